"""``GET /readyz`` over HTTP on ``keycard-serve run``: 503 with a reason until the zone's
metadata and keys are loaded and the shared cache has answered once, then 200 for good;
``/healthz`` is liveness only. And ``validate --online`` pings the store."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from fastmcp import Client

from tests.support.launcher import launch
from tests.support.polling import poll
from tests.support.redis_server import RedisServer
from tests.support.servers import free_port

CONFIG = """\
version: 1
server:
  name: Ready
  base_url: {base_url}
zone:
  url: {issuer}
credentials:
  client_id: ${{TEST_CLIENT_ID}}
  client_secret: ${{TEST_CLIENT_SECRET}}
{cache}tools:
  - function: examples.weather:forecast
    grants: [https://api.weather.example/]
"""
CACHE = "cache:\n  url: {url}\n  encryption_keys:\n    - ${{KS_CACHE_KEY}}\n"


def write_config(tmp: Path, issuer: str, cache_url: str | None = None) -> tuple[Path, str]:
    base_url = f"http://127.0.0.1:{free_port()}/"
    cache = CACHE.format(url=cache_url) if cache_url else ""
    path = tmp / "ready.yaml"
    path.write_text(CONFIG.format(base_url=base_url, issuer=issuer, cache=cache))
    return path, base_url


def environment(client: tuple[str, str] = ("x", "y")) -> dict[str, str]:
    return {
        "TEST_CLIENT_ID": client[0],
        "TEST_CLIENT_SECRET": client[1],
        "KS_CACHE_KEY": base64.b64encode(os.urandom(32)).decode(),
    }


def test_not_ready_while_the_zone_cannot_be_reached_yet_alive(tmp_path: Path) -> None:
    path, base_url = write_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    with launch(
        [str(path)],
        base_url=base_url,
        env=environment(),
        log_path=tmp_path / "log",
        ready_path="healthz",
    ):
        ready = httpx.get(base_url + "readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready"
        assert "metadata" in ready.json()["reason"] or "discovery" in ready.json()["reason"]
        assert ready.headers["cache-control"] == "no-store"
        assert httpx.get(base_url + "healthz").status_code == 200


async def test_ready_once_the_store_answered_and_it_stays_ready(authserver, tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = RedisServer(Path(directory))  # not started yet: nothing on its port
        path, base_url = write_config(tmp_path, authserver.issuer, store.url)
        env = environment(authserver.clients["mcp-server"])
        with launch(
            [str(path)],
            base_url=base_url,
            env=env,
            log_path=tmp_path / "log",
            ready_path="healthz",
        ) as running:
            first = httpx.get(base_url + "readyz", timeout=30)
            assert first.status_code == 503
            assert first.json()["reason"] == (
                f"the shared token cache (127.0.0.1:{store.port}) did not answer"
            )
            store.start()
            try:
                poll(lambda: httpx.get(base_url + "readyz").status_code == 200, "readiness")
                assert httpx.get(base_url + "readyz").json() == {"status": "ready"}
            finally:
                store.kill()
            # The store going away later is each call's business, not the probe's.
            assert httpx.get(base_url + "readyz").status_code == 200
            token = authserver.user_token("alice", running.mcp_url)
            async with Client(running.mcp_url, auth=token) as client:
                forecast = (await client.call_tool("forecast", {"city": "Oslo"})).data
            assert forecast.startswith("Forecast for Oslo")
            assert env["KS_CACHE_KEY"] not in running.log()


def test_validate_online_pings_the_store(authserver, tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = RedisServer(Path(directory))
        path, _ = write_config(tmp_path, authserver.issuer, store.url)
        env = {**os.environ, **environment(authserver.clients["mcp-server"])}
        command = [sys.executable, "-m", "keycard_serve", "validate", str(path)]
        offline = subprocess.run(command, env=env, capture_output=True, text=True)
        assert offline.returncode == 0, offline.stdout  # no connection without --online
        down = subprocess.run([*command, "--online"], env=env, capture_output=True, text=True)
        assert down.returncode == 1
        assert (
            f"error: cache.url: the shared token cache at 127.0.0.1:{store.port} did not "
            "answer a PING"
        ) in down.stdout
        store.start()
        try:
            up = subprocess.run([*command, "--online"], env=env, capture_output=True, text=True)
        finally:
            store.stop()
        assert up.returncode == 0, up.stdout + up.stderr
