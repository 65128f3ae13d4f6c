"""Where a keycard-serve server spends its CPU: py-spy samples under bench/warm.py's load.

    pip install py-spy   # once; any environment on PATH, or pass --py-spy
    python bench/profile_warm.py [--server library] [--mode warm] [--seconds 8] [--at REV]

Starts the stand-in zone and one server of bench/warm.py (``library`` or ``launcher``), then:

- ``warm``: 16 callers, two users alternating, call ``--tool`` (``one``: scenario A, ``three``:
  scenario B) while py-spy samples the server for ``--seconds``;
- ``cold``: 16 callers, each call a new connection, a new user's token never seen before,
  initialize and ``three`` (zone +0 ms, so the CPU of verification and exchange shows);
- ``first``: py-spy attached to a just-started server while the first contact happens.

Prints the share of samples (on-CPU only) by function, inclusive and self, and by package
(self), then keeps the raw collapsed stacks (``--raw FILE``) for a flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import observability
import warm
from _harness import NotRun

__all__: list[str] = []

_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")


def frame_key(frame: str) -> tuple[str, str]:
    """(``package/module.py:function``, package) of one collapsed-stack frame.

    py-spy already shortens paths to the part below site-packages (or the source root).
    """
    match = _FRAME.match(frame)
    if match is None:
        return frame, frame
    path = match["path"]
    parts = Path(path).parts
    package = parts[0] if len(parts) > 1 else "stdlib" if path.endswith(".py") else path
    return f"{path}:{match['function']}", package


def _tally(raw: Path) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """Samples in total, and by function inclusive, by function self, by package self."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_key(frame) for frame in stack.split(";")]
        total += count
        for key in {key for key, _ in frames}:
            inclusive[key] += count
        own[frames[-1][0]] += count
        packages[frames[-1][1]] += count
    if not total:
        raise SystemExit(f"py-spy recorded no sample in {raw}")
    return total, inclusive, own, packages


def _cpu_per_call(raw: Path) -> float | None:
    """Server CPU ms per call while ``raw`` was sampled (its ``.json`` sidecar), if known."""
    sidecar = raw.with_suffix(".json")
    return json.loads(sidecar.read_text())["cpu_ms_per_call"] if sidecar.exists() else None


def summarize(raw: Path, top: int) -> None:
    """Shares of the samples (and, with the sidecar, microseconds per call) by function."""
    total, inclusive, own, packages = _tally(raw)
    ms = _cpu_per_call(raw)
    print(f"{total} samples on CPU" + (f", {ms:.3f} ms server CPU per call" if ms else ""))
    ours = Counter({key: n for key, n in inclusive.items() if key.startswith("keycard_serve/")})
    for title, counter in (
        ("inclusive (the function and what it calls)", inclusive),
        ("inclusive, keycard_serve functions only", ours),
        ("self (the function's own code)", own),
        ("self, by package", packages),
    ):
        print(f"\ntop {top} by {title}:")
        for key, count in counter.most_common(top):
            per_call = f"{count / total * ms * 1000:7.1f} us/call" if ms else ""
            print(f"  {count / total * 100:5.1f}% {per_call} {key}")


def diff(first: Path, second: Path, top: int) -> None:
    """Microseconds per call that ``second`` spends more than ``first``, by package and function.

    Both need their sidecar (``--raw`` writes it): samples are on-CPU time, so a function's
    share times the CPU per call is its cost per call.
    """
    costs = []
    for raw in (first, second):
        ms = _cpu_per_call(raw)
        if ms is None:
            raise SystemExit(f"{raw.with_suffix('.json')} is missing: record with --raw")
        total, inclusive, own, packages = _tally(raw)
        scale = ms * 1000 / total
        costs.append([{k: v * scale for k, v in c.items()} for c in (inclusive, own, packages)])
    print(f"{second.name} - {first.name}, microseconds of server CPU per call")
    for index, title in ((2, "self, by package"), (1, "self"), (0, "inclusive")):
        a, b = costs[0][index], costs[1][index]
        delta = {key: b.get(key, 0.0) - a.get(key, 0.0) for key in set(a) | set(b)}
        print(f"\nlargest differences, {title}:")
        for key in sorted(delta, key=lambda k: -abs(delta[k]))[:top]:
            print(f"  {delta[key]:+8.1f}  ({a.get(key, 0):7.1f} -> {b.get(key, 0):7.1f})  {key}")


def record(py_spy: str, pid: int, seconds: float, raw: Path, rate: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            str(rate),
            "--format",
            "raw",  # blocking: --nonblocking truncates about half of the stacks
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def cold_load(server: warm.Server, zone: warm.Zone, seconds: float, callers: int) -> int:
    deadline = time.monotonic() + seconds
    done = 0

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            token = zone.token(f"new-{uuid.uuid4().hex[:10]}", server.base_url)
            await server.contact(token, stateless=False)
            done += 1

    await asyncio.gather(*(loop() for _ in range(callers)))
    return done


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
        tmp = Path(folder)
        args.pythonpath = warm.prepare_source(args.at, tmp) if args.at else None
        args.stateless, args.log_level, args.callers = False, "warning", 16
        args.window, args.warmup, args.cold_contacts = args.seconds, 0.5, 0
        zone = warm.Zone(tmp / "zone.log")
        if args.server == "launcher":
            subject = warm.launcher_subject("keycard-serve run", zone, args)
        elif args.server == "observed":
            subject = observability.subject(
                "ours", "observed", zone, args, on=True, fastmcp_spans=False
            )
        else:
            subject = warm.script_subject(args.server, args.server, sys.executable, zone, args)
        server = warm.Server(subject, tmp, args)
        raw = args.raw or tmp / "profile.txt"
        try:
            await server.ready()
            if args.mode == "first":
                spy = record(args.py_spy, server.process.pid, args.seconds, raw, args.rate)
                await asyncio.sleep(1.0)  # py-spy attached
                await zone.set_delay(warm.COLD_DELAY)
                token = zone.token(f"first-{uuid.uuid4().hex[:8]}", server.base_url)
                contact, call = await server.contact(token, stateless=False)
                print(f"first contact {contact * 1000:.1f} ms (tools/call {call * 1000:.1f} ms)")
            elif args.mode == "cold":
                await zone.set_delay(0.0)
                await cold_load(server, zone, 1.0, 16)  # imports and discovery done
                spy = record(args.py_spy, server.process.pid, args.seconds, raw, args.rate)
                calls = await cold_load(server, zone, args.seconds, 16)
                print(f"{calls} never-seen-token contacts in {args.seconds:.0f} s")
            else:
                scenario = next(s for s in warm.SCENARIOS if s.tool == args.tool)
                await zone.set_delay(scenario.delay)
                await server.open_callers(zone, args.callers, stateless=False)
                await warm.drive(server, zone, scenario, argparse.Namespace(warmup=0.5, window=1))
                spy = record(args.py_spy, server.process.pid, args.seconds, raw, args.rate)
                window = await warm.drive(server, zone, scenario, args)
                print(
                    f"{scenario.title}: {window.rate:.0f} calls/s, "
                    f"{window.cpu_per_call * 1000:.2f} ms server CPU per call (while sampled)"
                )
                sidecar = {"cpu_ms_per_call": window.cpu_per_call * 1000, "calls": window.calls}
                raw.with_suffix(".json").write_text(json.dumps(sidecar))
            _, errors = spy.communicate(timeout=args.seconds + 30)
            if spy.returncode != 0:
                raise NotRun(f"py-spy failed: {errors.decode()[-2000:]}")
        finally:
            server.close()
            zone.close()
        summarize(raw, args.top)
        if args.raw:
            print(f"\nraw collapsed stacks: {args.raw}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server",
        choices=["plain", "jwt", "library", "launcher", "observed"],
        default="library",
        help="observed: the launcher with metrics, audit log and SDK spans (FastMCP's own off), "
        "as bench/observability.py's 'ours'",
    )
    parser.add_argument("--mode", choices=["warm", "cold", "first"], default="warm")
    parser.add_argument("--tool", choices=["one", "three"], default="one", help="warm mode")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds sampled")
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument("--at", help="profile src/ as committed at this git revision")
    parser.add_argument("--summarize", type=Path, help="only summarize these raw stacks")
    parser.add_argument(
        "--diff", type=Path, nargs=2, metavar="RAW", help="per-call cost of B minus A (warm mode)"
    )
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="the py-spy binary")
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="script servers as written (by default they freeze start-up objects, as the "
        "launcher does)",
    )
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize, args.top)
        return
    if args.diff:
        diff(*args.diff, args.top)
        return
    if not args.py_spy:
        parser.error("py-spy not found: `pip install py-spy`, or pass --py-spy PATH")
    cpus = sorted(os.sched_getaffinity(0))
    args.server_cpus = {cpus[-1]} if len(cpus) >= 2 else None
    if args.server_cpus:
        os.sched_setaffinity(0, set(cpus[:-1]))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
