"""What the bench scripts share: server processes, the 0.9.0 environment, /proc CPU figures.

Not a benchmark itself; ``bench/exchange.py``, ``bench/reload.py``, ``bench/warm.py`` and
``bench/profile_warm.py`` import it (bench/ is on ``sys.path`` when a script in it runs).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = [
    "ORIGINAL_REQUIREMENTS",
    "ROOT",
    "NotRun",
    "cpu_seconds",
    "ensure_original_venv",
    "free_port",
    "resolved_versions",
    "stop",
    "wait_port",
]

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL_REQUIREMENTS = [
    "keycardai-mcp-fastmcp==0.9.0",
    "keycardai-mcp==0.9.0",
    "keycardai-oauth==0.5.0",
]
_ORIGINAL_REPORTED = ["keycardai-mcp-fastmcp", "keycardai-mcp", "keycardai-oauth", "fastmcp", "mcp"]
_TICKS = os.sysconf("SC_CLK_TCK")


class NotRun(Exception):
    """A server could not be set up or answered wrongly; the reason is printed instead."""


def free_port() -> int:
    """A port that was free a moment ago, for a server in another process (racy by nature)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_original_venv(venv: Path) -> str:
    """Create the 0.9.0 environment once (pip resolves the rest); return its python."""
    python = venv / "bin" / "python"
    marker = venv / "bench-requirements.txt"
    wanted = "\n".join(ORIGINAL_REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted:
        return str(python)
    print(f"creating {venv} with {' '.join(ORIGINAL_REQUIREMENTS)} (once)...", file=sys.stderr)
    shutil.rmtree(venv, ignore_errors=True)
    for command in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", *ORIGINAL_REQUIREMENTS],
    ):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise NotRun(f"`{' '.join(command)}` failed: {done.stderr.strip()[-2000:]}")
    marker.write_text(wanted)
    return str(python)


def resolved_versions(python: str) -> str:
    """What pip actually installed in the 0.9.0 environment, for the report."""
    code = (
        "import importlib.metadata as m, platform;"
        f"print(' '.join(f'{{n}}=={{m.version(n)}}' for n in {_ORIGINAL_REPORTED!r}),"
        "'python', platform.python_version())"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise NotRun(f"its packages are missing: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


def wait_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Wait until the server accepts connections; if it dies first, its log says why."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotRun(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise NotRun(f"server did not listen within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGINT (a clean uvicorn shutdown), then SIGKILL if it lingers; always reaped."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except OSError:  # exited meanwhile
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (/proc/<pid>/stat).

    A process's own figure includes its threads, exited ones too; resolution is one clock tick
    (10 ms), so measure windows of seconds.
    """
    total = 0
    for each in _descendants(pid):
        try:
            with open(f"/proc/{each}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / _TICKS
