"""Run ``keycard-serve`` as a subprocess, the way users do, and wait until it serves."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Launched:
    process: subprocess.Popen[str]
    base_url: str
    log_path: Path

    @property
    def mcp_url(self) -> str:
        return self.base_url + "mcp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def launch(
    args: Sequence[str],
    *,
    base_url: str,
    env: Mapping[str, str] | None = None,
    log_path: Path,
    ready_path: str = ".well-known/oauth-protected-resource/mcp",
    timeout: float = 30.0,
) -> Iterator[Launched]:
    """Start ``python -m keycard_serve *args`` in the project root; stop it with SIGINT."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "keycard_serve", *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    launched = Launched(process, base_url, log_path)
    try:
        _wait_ready(launched, base_url + ready_path, timeout)
        yield launched
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(launched: Launched, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if launched.process.poll() is not None:
            raise RuntimeError(f"keycard-serve exited early:\n{launched.log()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"keycard-serve did not serve {url} within {timeout:g} s:\n{launched.log()}")
