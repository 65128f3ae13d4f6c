"""Save-to-served time: keycard-serve --reload against fastmcp run --reload.

keycard-serve applies a grant change inside the running process; ``fastmcp run --reload``
restarts the whole server. Both are measured on this machine, the same way: save, then call a
tool until the answer changes.

    python bench/reload.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _harness import ROOT, free_port, stop
from fastmcp import Client

TOOLS = """\
from fastmcp import Context


async def grants_seen(ctx: Context) -> list[str]:
    access = await ctx.get_state("keycardai")
    return sorted(access.get_successful_resources())
"""

CONFIG = """\
version: 1
server: {{name: bench, base_url: "http://127.0.0.1:{port}/"}}
zone: {{dev: {{port: {dev_port}}}}}
tools:
  - function: bench_tools:grants_seen
    grants: ["{grant}"]
"""

FASTMCP_SERVER = """\
from fastmcp import FastMCP

mcp = FastMCP("bench")


@mcp.tool()
def version() -> int:
    return {version}
"""


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


async def poll(url: str, tool: str, expected: object, token: str | None) -> float:
    """Seconds until ``tool`` answers ``expected`` (new connections: restarts drop sessions)."""
    started = time.perf_counter()
    while True:
        try:
            async with Client(url, auth=token, timeout=5) as client:
                if (await client.call_tool(tool, {})).data == expected:
                    return time.perf_counter() - started
        except Exception:  # the server is restarting
            pass
        await asyncio.sleep(0.02)


def bench_keycard_serve(tmp: Path, rounds: int) -> list[float]:
    port, dev_port = free_port(), free_port()
    (tmp / "bench_tools.py").write_text(TOOLS)
    config = tmp / "bench.yaml"
    config.write_text(CONFIG.format(port=port, dev_port=dev_port, grant="https://r0.example/"))
    env = {**os.environ, "KEYCARD_SERVE_STATE_DIR": str(tmp / "state")}
    process = subprocess.Popen(
        [sys.executable, "-m", "keycard_serve", str(config), "--reload", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        token = subprocess.run(
            [sys.executable, "-m", "keycard_serve", "token", str(config)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        url = f"http://127.0.0.1:{port}/mcp"
        times = []
        for i in range(1, rounds + 1):
            grant = f"https://r{i}.example/"
            temporary = tmp / ".bench.yaml.tmp"
            temporary.write_text(CONFIG.format(port=port, dev_port=dev_port, grant=grant))
            os.replace(temporary, config)  # an editor's atomic save
            times.append(asyncio.run(poll(url, "grants_seen", [grant], token)))
        return times
    finally:
        stop(process)


def bench_fastmcp_run(tmp: Path, rounds: int) -> list[float]:
    port = free_port()
    server = tmp / "server.py"
    server.write_text(FASTMCP_SERVER.format(version=0))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "FASTMCP_SHOW_SERVER_BANNER": "false",
    }
    process = subprocess.Popen(
        [
            "fastmcp",
            "run",
            str(server),
            "--transport",
            "http",
            "--port",
            str(port),
            "--reload",
            "--reload-dir",
            str(tmp),
            "--log-level",
            "WARNING",
        ],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/mcp")
        url = f"http://127.0.0.1:{port}/mcp"
        times = []
        for i in range(1, rounds + 1):
            server.write_text(FASTMCP_SERVER.format(version=i))
            times.append(asyncio.run(poll(url, "version", i, None)))
        return times
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "ours").mkdir()
        (Path(tmp) / "theirs").mkdir()
        ours = bench_keycard_serve(Path(tmp) / "ours", args.rounds)
        theirs = bench_fastmcp_run(Path(tmp) / "theirs", args.rounds)
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    print(f"save -> change served, median of {args.rounds} rounds (this machine)")
    print(f"  keycard-serve --reload (in-process swap)   {ours_median * 1000:8.0f} ms")
    print(f"  fastmcp run --reload (process restart)     {theirs_median * 1000:8.0f} ms")
    print(f"  ratio fastmcp / keycard-serve              {theirs_median / ours_median:8.1f}x")
    print("  (both include the file watcher's debounce; keycard-serve keeps MCP sessions open)")


if __name__ == "__main__":
    main()
