"""Latency of a granted tool call with two resources: plain FastMCP, keycard-serve, 0.9.0.

keycard-serve exchanges the caller's token for every granted resource concurrently and caches
the results; keycardai-mcp-fastmcp 0.9.0 exchanges one resource after the other on every call.
This measures what that costs a tool call on this machine: each server runs as its own process
over streamable HTTP on 127.0.0.1, against the same test authorization server
(tests/authserver), called by the same client (FastMCP 4's ``Client``, legacy handshake).

    python bench/exchange.py [--calls 50] [--warmup 5] [--cold-runs 5]

The 0.9.0 package runs on fastmcp 2.12.0 in its own virtual environment, created on first use
(``--venv``, default bench/.venv-original).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from _harness import (
    ROOT,
    NotRun,
    ensure_original_venv,
    free_port,
    resolved_versions,
    stop,
    wait_port,
)
from fastmcp import Client

sys.path.insert(0, str(ROOT))  # tests.support is not installed; bench/ runs from a checkout

from tests.support.authserver import AuthServer, run_authserver

RESOURCES = ["https://api.example.com/", "https://mail.example/"]
TOOL = "both"
EXPECTED = " ".join(["success", *RESOURCES])

# Each server script reads its settings as JSON from argv[1] and serves until interrupted.
# The granted tool bodies are the same apart from the state call (synchronous in fastmcp 2);
# the plain server's tool returns the same answer without auth or exchange.
SERVER_HEAD = """\
import json, sys
from fastmcp import Context, FastMCP

cfg = json.loads(sys.argv[1])
"""
SERVER_TAIL = """\
if cfg["warm_process"]:  # one call without a token: lazy imports done, auth caches empty
    import asyncio
    from fastmcp import Client

    async def warm():
        async with Client(mcp) as client:
            await client.call_tool("both", {})

    asyncio.run(warm())
mcp.run(transport="http", host="127.0.0.1", port=cfg["port"], show_banner=False,
        log_level="warning")
"""
PLAIN_SERVER = """\
mcp = FastMCP("bench")


@mcp.tool()
async def both(ctx: Context) -> str:
    return " ".join(["success", *cfg["resources"]])
"""
GRANTED_SERVER = """\
from {module} import AuthProvider, ClientSecret

auth_provider = AuthProvider(
    zone_url=cfg["issuer"],
    mcp_server_name="bench",
    mcp_base_url=cfg["base_url"],
    application_credential=ClientSecret((cfg["client_id"], cfg["client_secret"])),
)
mcp = FastMCP("bench", auth=auth_provider.get_remote_auth_provider())


@mcp.tool()
@auth_provider.grant(cfg["resources"])
async def both(ctx: Context) -> str:
    access = {get_state}("keycardai")
    return " ".join([access.get_status(), *sorted(access.get_successful_resources())])
"""
OURS_SERVER = GRANTED_SERVER.format(module="keycard_serve", get_state="await ctx.get_state")
ORIGINAL_SERVER = GRANTED_SERVER.format(
    module="keycardai.mcp.integrations.fastmcp", get_state="ctx.get_state"
)

PHASES = {
    "new": "first, new process",
    "warmed": "first, warmed process",
    "warm": "warm",
}


@dataclass
class Phase:
    """Seconds per sample, and the AS requests seen over all samples by kind."""

    seconds: list[float] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)

    def count(self, stats: dict[str, int]) -> None:
        for kind, number in stats.items():
            self.requests[kind] = self.requests.get(kind, 0) + number

    def per_sample(self, kind: str) -> float:
        return self.requests.get(kind, 0) / len(self.seconds)


@contextmanager
def serve(
    python: str, script: str, auth: AuthServer, tmp: Path, *, warm_process: bool
) -> Iterator[str]:
    """Start a server process, its auth caches empty; yield its base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    client_id, secret = auth.clients["mcp-server"]
    settings = {
        "port": port,
        "base_url": base_url,
        "issuer": auth.issuer,
        "client_id": client_id,
        "client_secret": secret,
        "resources": RESOURCES,
        "warm_process": warm_process,
    }
    path, log = tmp / "server.py", tmp / "server.log"
    path.write_text(SERVER_HEAD + script + SERVER_TAIL)
    with log.open("w") as output:
        process = subprocess.Popen(
            [python, str(path), json.dumps(settings)],
            cwd=tmp,
            env={**os.environ, "FASTMCP_SHOW_SERVER_BANNER": "false"},
            stdout=output,
            stderr=output,
        )
    try:
        wait_port(port, process, log)
        yield base_url
    finally:
        stop(process)


async def call(client: Client) -> float:
    """One timed tool call; an answer without both tokens is an error, not a sample."""
    started = time.perf_counter()
    result = await client.call_tool(TOOL, {})
    elapsed = time.perf_counter() - started
    text = result.content[0].text
    if text != EXPECTED:
        raise NotRun(f"the tool answered {text!r}, expected {EXPECTED!r}")
    return elapsed


async def session(
    python: str,
    script: str,
    auth: AuthServer,
    tmp: Path,
    args: argparse.Namespace,
    first: Phase,
    warm: Phase | None,
    *,
    warm_process: bool,
) -> None:
    """Time the first call of a new server's first session; then, if asked, warm calls.

    The first call is timed from opening the MCP session (initialize, where the bearer token
    is first verified) to the tool's answer. Its AS requests are counted from the server's
    start, so they include 0.9.0's discovery in its constructor.
    """
    auth.reset_stats()
    with serve(python, script, auth, tmp, warm_process=warm_process) as base_url:
        token = auth.user_token("alice", base_url)
        started = time.perf_counter()
        async with Client(f"{base_url}mcp", auth=token, mode="legacy", timeout=30) as client:
            await call(client)
            first.seconds.append(time.perf_counter() - started)
            first.count(await asyncio.to_thread(auth.stats))
            if warm is None:
                return
            for _ in range(args.warmup):
                await call(client)
            await asyncio.to_thread(auth.reset_stats)
            warm.seconds.extend([await call(client) for _ in range(args.calls)])
            warm.count(await asyncio.to_thread(auth.stats))


async def measure(
    python: str, script: str, auth: AuthServer, tmp: Path, args: argparse.Namespace
) -> dict[str, Phase]:
    """First calls on new and on warmed processes; warm calls on the last warmed one."""
    phases = {key: Phase() for key in PHASES}
    for run in range(args.cold_runs):
        await session(python, script, auth, tmp, args, phases["new"], None, warm_process=False)
        last = run == args.cold_runs - 1
        warm = phases["warm"] if last else None
        await session(python, script, auth, tmp, args, phases["warmed"], warm, warm_process=True)
    return phases


def p90(samples: list[float]) -> float:
    """The 90th percentile, interpolated: tail latency from few first-call samples too."""
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=10, method="inclusive")[-1]


def report(results: dict[str, dict[str, Phase] | str], args: argparse.Namespace) -> None:
    print(
        f"granted tool call with {len(RESOURCES)} resources, streamable HTTP on 127.0.0.1, "
        f"client fastmcp {version('fastmcp')} Client(mode='legacy')\n"
        f"first: first call on each of {args.cold_runs} new servers, timed from opening the "
        "session\n"
        "warmed process: the server first made one in-memory call without a token "
        "(imports done, auth caches empty)\n"
        f"warm: {args.calls} calls after {args.warmup} unmeasured ones, same session"
    )
    print(f"{'':<25}{'median ms':>10}{'p90 ms':>9}{'exchanges':>11}{'metadata':>10}{'jwks':>6}")
    for label, phases in results.items():
        print(label)
        if isinstance(phases, str):
            print(f"  not run: {phases}")
            continue
        for key, name in PHASES.items():
            phase = phases[key]
            print(
                f"  {name:<23}{statistics.median(phase.seconds) * 1000:>10.2f}"
                f"{p90(phase.seconds) * 1000:>9.2f}{phase.per_sample('token_exchange'):>11.1f}"
                f"{phase.per_sample('metadata'):>10.1f}{phase.per_sample('jwks'):>6.1f}"
            )
    print(
        "exchanges, metadata, jwks: requests the AS saw per call (first calls: from the "
        "server's start)"
    )
    medians = {
        label: {key: statistics.median(phase.seconds) for key, phase in phases.items()}
        for label, phases in results.items()
        if not isinstance(phases, str)
    }
    plain, ours, original = (medians.get(label) for label in results)
    pairs = [
        ("original 0.9.0 / keycard-serve", original, ours),
        ("keycard-serve / plain", ours, plain),
        ("original 0.9.0 / plain", original, plain),
    ]
    print(f"{'ratio of medians':<34}" + "".join(f"{name:>23}" for name in PHASES.values()))
    for name, numerator, denominator in pairs:
        if numerator and denominator:
            ratios = (numerator[key] / denominator[key] for key in PHASES)
            print(f"  {name:<32}" + "".join(f"{ratio:>22.2f}x" for ratio in ratios))


async def run(args: argparse.Namespace) -> None:
    labels = (
        f"plain FastMCP {version('fastmcp')}, no auth",
        f"keycard-serve {version('keycard-serve')} on FastMCP {version('fastmcp')}",
        "keycardai-mcp-fastmcp 0.9.0 on fastmcp 2.12.0",
    )
    subjects: dict[str, tuple[str, str] | str] = {
        labels[0]: (sys.executable, PLAIN_SERVER),
        labels[1]: (sys.executable, OURS_SERVER),
    }
    try:
        python = ensure_original_venv(args.venv)
        print(f"original's venv {args.venv}: {resolved_versions(python)}")
        subjects[labels[2]] = (python, ORIGINAL_SERVER)
    except (NotRun, OSError) as exc:
        subjects[labels[2]] = f"cannot set up its environment: {exc}"
    results: dict[str, dict[str, Phase] | str] = {}
    with run_authserver() as auth, tempfile.TemporaryDirectory(prefix="bench-exchange-") as tmp:
        for label, subject in subjects.items():
            if isinstance(subject, str):
                results[label] = subject
                continue
            print(f"measuring {label}...", file=sys.stderr)
            try:
                results[label] = await measure(*subject, auth, Path(tmp), args)
            except Exception as exc:  # report why, keep the other rows
                results[label] = f"{type(exc).__name__}: {exc}"
    report(results, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="warm calls measured")
    parser.add_argument("--warmup", type=int, default=5, help="warm calls not measured")
    parser.add_argument("--cold-runs", type=int, default=5, help="new servers per first call")
    parser.add_argument("--venv", type=Path, default=ROOT / "bench" / ".venv-original")
    args = parser.parse_args()
    if min(args.calls, args.cold_runs) < 1 or args.warmup < 0:
        parser.error("--calls and --cold-runs must be at least 1, --warmup at least 0")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
