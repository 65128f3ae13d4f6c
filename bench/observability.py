"""What metrics, spans and the audit log cost a warm tool call: server CPU per call, on vs off.

    python bench/observability.py [--quick] [--rounds 6] [--window 1.5]

The warm path of bench/warm.py (same stand-in zone, load driver, tools and scenarios) against
three ``keycard-serve run config.yaml`` processes:

- off: no ``observability`` section, no OpenTelemetry SDK (the API's no-op spans);
- on: ``observability: {metrics: {listen: ...}, audit: {path: ...}}`` and the OpenTelemetry
  SDK installed with a ``BatchSpanProcessor`` into an in-memory exporter
  (bench/_observed_server.py): keycard-serve's spans and FastMCP's own are recorded;
- on, ours: the same with FastMCP's own spans off (``FASTMCP_TELEMETRY_MODE=off``), so the
  difference to "off" is what keycard-serve's instrumentation adds.

Rounds rotate the order of the servers; printed per scenario: calls/s, server CPU ms per call
(utime+stime from /proc over the measured window) and the added CPU per call against "off"
(median and range of the per-round ratios). The target is <= 5 % for "on, ours".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _harness import ROOT, NotRun
from warm import CLIENT, SCENARIOS, Server, Subject, Zone, drive, launcher_folder

OBSERVABILITY = """\
observability:
  metrics: {{listen: "127.0.0.1:0"}}
  audit: {{path: {audit}}}
"""


def subject(
    key: str,
    label: str,
    zone: Zone,
    args: argparse.Namespace,
    *,
    on: bool,
    fastmcp_spans: bool = True,
) -> Subject:
    def argv(port: int, base_url: str, tmp: Path) -> list[str]:
        folder = tmp / f"{key}-{port}"
        audit = json.dumps(str(folder / "audit.jsonl"))
        path = launcher_folder(
            folder,
            base_url=base_url,
            issuer=zone.issuer,
            log_level=args.log_level,
            stateless=False,
            extra=OBSERVABILITY.format(audit=audit) if on else "",
        )
        if on:
            return [sys.executable, str(ROOT / "bench" / "_observed_server.py"), str(path)]
        return [sys.executable, "-m", "keycard_serve", "run", str(path)]

    env = {"BENCH_CLIENT_ID": CLIENT[0], "BENCH_CLIENT_SECRET": CLIENT[1]}
    if not fastmcp_spans:
        env["FASTMCP_TELEMETRY_MODE"] = "off"
    return Subject(key, label, argv, env)


def spread(ratios: list[float]) -> str:
    """``+x.x% [min..max]`` of added CPU, from per-round ratios."""
    added = [(ratio - 1) * 100 for ratio in ratios]
    return f"{statistics.median(added):+6.1f}% [{min(added):+.1f}..{max(added):+.1f}]"


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-observability-") as folder:
        tmp = Path(folder)
        args.pythonpath = None
        if args.server_cpus:
            os.sched_setaffinity(0, args.driver_cpus)
        zone = Zone(tmp / "zone.log")
        subjects = [
            subject("off", "all off", zone, args, on=False),
            subject("on", "metrics + spans (SDK, in memory) + audit", zone, args, on=True),
            subject(
                "ours",
                "the same, FastMCP's own spans off",
                zone,
                args,
                on=True,
                fastmcp_spans=False,
            ),
        ]
        servers: dict[str, Server] = {}
        try:
            for item in subjects:
                server = servers[item.key] = Server(item, tmp, args)
                await server.ready()
                await server.open_callers(zone, args.callers, False)
            results = {item.key: {s.name: [] for s in SCENARIOS} for item in subjects}
            for round_index in range(args.rounds):
                keys = [item.key for item in subjects]
                shift = round_index % len(keys)
                order = keys[shift:] + keys[:shift]
                print(f"round {round_index + 1}: {' '.join(order)}", file=sys.stderr)
                for scenario in SCENARIOS:
                    await zone.set_delay(scenario.delay)
                    for key in order:
                        window = await drive(servers[key], zone, scenario, args)
                        results[key][scenario.name].append(window)
            audit = sum(len(path.read_text().splitlines()) for path in tmp.glob("*/audit.jsonl"))
            report(subjects, results, args, audit)
        finally:
            for server in servers.values():
                server.close()
            zone.close()


def report(subjects, results, args, audit_lines: int) -> None:
    print(
        f"warm calls, {args.callers} callers, {args.rounds} round(s) x {args.window:.1f} s per "
        f"server and scenario; server pinned to CPU {sorted(args.server_cpus or [])}"
    )
    for scenario in SCENARIOS:
        print(f"\n{scenario.title}")
        print(f"{'server':<52}{'calls/s':>8}{'cpu ms/call':>12}{'added cpu/call vs off':>30}")
        off = results["off"][scenario.name]
        for item in subjects:
            runs = results[item.key][scenario.name]
            line = (
                f"{item.key + ': ' + item.label:<52}"
                f"{statistics.median(w.rate for w in runs):>8.0f}"
                f"{statistics.median(w.cpu_per_call for w in runs) * 1000:>12.3f}"
            )
            if item.key != "off":
                ratios = [w.cpu_per_call / o.cpu_per_call for w, o in zip(runs, off, strict=True)]
                line += f"{spread(ratios):>30}"
            print(line)
    print(f"\n(audit lines written by the two 'on' servers: {audit_lines})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, help="rounds, order rotated (default 6; quick 1)")
    parser.add_argument("--window", type=float, help="seconds measured per server and scenario")
    parser.add_argument("--warmup", type=float, default=0.3, help="unmeasured seconds before each")
    parser.add_argument("--callers", type=int, default=16, help="concurrent callers")
    parser.add_argument("--log-level", default="warning", help="servers' log level")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers to a CPU")
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 6)
    args.window = args.window or (1.0 if args.quick else 1.5)
    args.stateless = False
    cpus = sorted(os.sched_getaffinity(0))
    args.server_cpus = {cpus[-1]} if len(cpus) >= 2 and not args.no_pin else None
    args.driver_cpus = set(cpus[:-1]) if args.server_cpus else None
    try:
        asyncio.run(run(args))
    except NotRun as exc:
        raise SystemExit(f"not run: {exc}") from None


if __name__ == "__main__":
    main()
