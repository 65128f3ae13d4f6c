"""The launcher against the library, without network noise: server CPU per warm tool call.

    python bench/layers.py [--rounds 6] [--calls 2000]

bench/warm.py compares whole processes under load on a shared machine, where a few per cent is
within the noise. This script decides "the launcher within 3 % of the library" another way: it
builds the same tools (bench/_warm_server.py's bodies, granted through bench/_zone.py's
stand-in zone) as a library app (``AuthProvider`` + ``@grant``) and as the launcher's app
(``served_app`` of the same YAML ``keycard-serve run`` reads), each in a fresh interpreter with
its start-up objects frozen as ``keycard-serve run`` does, and calls ``tools/call``
``--calls`` times on two sessions (alice and bob alternating) through httpx's ASGI transport,
one call at a time. Each call's server CPU is the process time spent inside the app (the
client's own work is outside it). Rounds alternate the order; printed: the median over rounds
of CPU microseconds per call for each, and the median [min-max] of the per-round ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import ROOT
from warm import CLIENT, SCENARIOS, TOOLS, Zone, launcher_folder

__all__: list[str] = []

BASE_URL = "http://127.0.0.1:8000/"
_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class _Timed:
    """ASGI wrapper adding up the process time spent inside ``app`` for HTTP requests."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seconds = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.process_time()
        try:
            await self.app(scope, receive, send)
        finally:
            self.seconds += time.process_time() - started


async def _session(client: Any, token: str) -> dict[str, str]:
    headers = {**_HEADERS, "Authorization": f"Bearer {token}"}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    }
    response = await client.post("/mcp", headers=headers, json=initialize)
    headers["mcp-session-id"] = response.headers["mcp-session-id"]
    headers["mcp-protocol-version"] = "2025-06-18"
    await client.post(
        "/mcp", headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
    )
    return headers


async def _drive(app: Any, tokens: list[str], tool: str, calls: int) -> float:
    """Server CPU microseconds per warm ``tools/call`` of ``tool`` (after 200 unmeasured)."""
    import httpx

    timed = _Timed(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=timed)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            sessions = [await _session(client, token) for token in tokens]
            body = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": tool, "arguments": {}},
            }
            for index in range(200):
                response = await client.post("/mcp", headers=sessions[index % 2], json=body)
                if "success" not in response.text:
                    raise RuntimeError(f"{tool}: {response.status_code} {response.text[:300]}")
            timed.seconds = 0.0
            for index in range(calls):
                await client.post("/mcp", headers=sessions[index % 2], json=body)
    return timed.seconds / calls * 1e6


async def _measure(kind: str, settings: dict[str, Any]) -> dict[str, float]:
    """In this (fresh) interpreter: build ``kind``'s app, then time each scenario's tool."""
    from fastmcp import FastMCP

    tokens, issuer = settings["tokens"], settings["issuer"]
    folder = Path(settings["folder"])
    if kind == "library":
        from _warm_server import _tools

        from keycard_serve import AuthProvider, ClientSecret

        provider = AuthProvider(
            zone_url=issuer,
            mcp_server_name="bench",
            mcp_base_url=BASE_URL,
            application_credential=ClientSecret(CLIENT),
        )
        mcp = FastMCP("bench", auth=provider.get_remote_auth_provider())
        bodies = _tools(TOOLS, granted=True)
        for name, resources in TOOLS.items():
            mcp.tool(name=name)(provider.grant(resources)(bodies[name]))
        app = mcp.http_app(transport="http")
        gc.collect()
        gc.freeze()
        return {s.tool: await _drive(app, tokens, s.tool, settings["calls"]) for s in SCENARIOS}
    from keycard_serve.config import import_tools, load_config
    from keycard_serve.launcher.assemble import served_app

    sys.path.insert(0, str(folder))
    environ = {"BENCH_CLIENT_ID": CLIENT[0], "BENCH_CLIENT_SECRET": CLIENT[1]}
    loaded = import_tools(load_config(folder / "bench.yaml", environ=environ))
    async with served_app(loaded) as served:
        gc.collect()
        gc.freeze()
        return {
            s.tool: await _drive(served.app, tokens, s.tool, settings["calls"]) for s in SCENARIOS
        }


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-layers-") as folder:
        tmp = Path(folder)
        zone = Zone(tmp / "zone.log")
        try:
            settings = {
                "issuer": zone.issuer,
                "tokens": [zone.token(user, BASE_URL) for user in ("alice", "bob")],
                "folder": str(
                    launcher_folder(
                        tmp / "launcher",
                        base_url=BASE_URL,
                        issuer=zone.issuer,
                        log_level="warning",
                        stateless=False,
                    ).parent
                ),
                "calls": args.calls,
            }
            results: dict[str, list[dict[str, float]]] = {"library": [], "launcher": []}
            for index in range(args.rounds):
                order = ["library", "launcher"] if index % 2 == 0 else ["launcher", "library"]
                print(f"round {index + 1}: {' '.join(order)}", file=sys.stderr)
                for kind in order:
                    done = subprocess.run(
                        [sys.executable, __file__, "--child", kind, json.dumps(settings)],
                        capture_output=True,
                        text=True,
                        cwd=ROOT,
                        check=False,
                    )
                    if done.returncode != 0:
                        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
                    results[kind].append(json.loads(done.stdout.splitlines()[-1]))
        finally:
            zone.close()
    print(
        f"server CPU per warm tools/call, in process (httpx ASGI transport, one call at a time, "
        f"{args.calls} calls per scenario), start-up objects frozen in both; "
        f"{args.rounds} rounds, order alternating"
    )
    print(f"{'scenario':<40} {'library us':>10} {'launcher us':>11}   launcher / library")
    for scenario in SCENARIOS:
        library = [r[scenario.tool] for r in results["library"]]
        launcher = [r[scenario.tool] for r in results["launcher"]]
        ratios = [b / a for a, b in zip(library, launcher, strict=True)]
        label = f"{scenario.name}: tool `{scenario.tool}`, {len(TOOLS[scenario.tool])} resource(s)"
        print(
            f"{label:<40} {statistics.median(library):10.1f} {statistics.median(launcher):11.1f}"
            f"   {statistics.median(ratios):.3f}x [{min(ratios):.3f}-{max(ratios):.3f}]"
        )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(asyncio.run(_measure(sys.argv[2], json.loads(sys.argv[3])))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds, order alternating")
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per scenario")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
