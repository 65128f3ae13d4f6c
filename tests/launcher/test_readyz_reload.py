"""``GET /readyz`` across a reload that rebuilds the provider, over HTTP on ``keycard-serve``.

README "Readiness": a reload that changes the zone builds a new provider, which is ready again
as soon as its zone answers; if the new zone cannot be reached at that moment, ``/readyz``
says so (503) until it can, since tokens cannot be checked either (a call gets 503, never
401). The first zone is the real authorization server; the new one is the fake zone on a port
that refuses connections until the test serves it.
"""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path

import httpx
from fastmcp import Client
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.fake_zone import exchanged, run_fake_zone
from tests.support.keys import public_jwk, rsa_key, sign
from tests.support.launcher import launch
from tests.support.polling import poll
from tests.support.servers import bound_socket, free_port

KEY = rsa_key("readyz-reload")
ACCEPT = {"Accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
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
tools:
  - function: examples.weather:forecast
    grants: [https://api.weather.example/]
"""


def access_token(issuer: str, audience: str) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": "alice", "iat": now, "exp": now + 600}
    return sign(claims, KEY, kid="readyz")


def ping(mcp_url: str, token: str) -> httpx.Response:
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    return httpx.post(mcp_url, headers=headers, json=PING, timeout=30)


async def forecast(mcp_url: str, token: str) -> str:
    async with Client(mcp_url, auth=token) as client:
        return (await client.call_tool("forecast", {"city": "Oslo"})).data


async def _exchange(request: Request) -> Response:
    return JSONResponse(exchanged("weather-token"))


async def test_a_reload_to_an_unreachable_zone_is_not_ready_until_it_answers(
    authserver, tmp_path: Path
) -> None:
    base_url = f"http://127.0.0.1:{free_port()}/"
    new_zone_socket = bound_socket()  # bound, not listening: connections are refused
    new_zone = f"http://127.0.0.1:{new_zone_socket.getsockname()[1]}"
    config = tmp_path / "ready.yaml"
    config.write_text(CONFIG.format(base_url=base_url, issuer=authserver.issuer))
    client_id, secret = authserver.clients["mcp-server"]
    env = {"TEST_CLIENT_ID": client_id, "TEST_CLIENT_SECRET": secret}
    with launch(
        [str(config)], base_url=base_url, env=env, log_path=tmp_path / "log", ready_path="readyz"
    ) as running:
        assert httpx.get(base_url + "readyz").json() == {"status": "ready"}
        old_token = authserver.user_token("alice", running.mcp_url)
        assert (await forecast(running.mcp_url, old_token)).startswith("Forecast for Oslo")

        # Reload to another zone, which cannot be reached yet.
        text = CONFIG.format(base_url=base_url, issuer=new_zone)
        config.write_text(text)
        running.process.send_signal(signal.SIGHUP)
        digest = hashlib.sha256(text.encode()).hexdigest()
        poll(
            lambda: httpx.get(base_url + "healthz").json()["config"]["sha256"] == digest,
            "the reload",
        )
        assert "zone or credentials changed" in running.log()
        not_ready = httpx.get(base_url + "readyz", timeout=30)
        assert not_ready.status_code == 503
        assert not_ready.json()["status"] == "not ready"
        assert new_zone in not_ready.json()["reason"]
        assert not_ready.headers["cache-control"] == "no-store"
        assert httpx.get(base_url + "healthz").status_code == 200  # alive all along
        # Tokens cannot be checked either: 503 with Retry-After, never 401...
        new_token = access_token(new_zone, running.mcp_url)
        unchecked = ping(running.mcp_url, new_token)
        assert unchecked.status_code == 503
        assert int(unchecked.headers["retry-after"]) > 0
        # ...except a token bad on its face: the old zone's token names another issuer.
        assert ping(running.mcp_url, old_token).status_code == 401

        # The new zone comes up: ready again, and its tokens work end to end.
        with run_fake_zone(new_zone_socket) as zone:
            zone.jwks = {"keys": [public_jwk(KEY, "readyz", alg="RS256")]}
            zone.token_handler = _exchange
            poll(lambda: httpx.get(base_url + "readyz").status_code == 200, "readiness", 20)
            assert httpx.get(base_url + "readyz").json() == {"status": "ready"}
            answer = await forecast(running.mcp_url, new_token)
            assert answer == "Forecast for Oslo: sunny (fetched with a 13-character token)"
            # The delegated token came from the new zone, for the caller's token.
            assert [r.form["subject_token"] for r in zone.paths("/token")] == [new_token]
        assert secret not in running.log()
