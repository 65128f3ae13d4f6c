"""``keycard-serve CONFIG`` as a subprocess, against the real test authorization server."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from fastmcp import Client

from tests.support.launcher import launch
from tests.support.servers import free_port

CONFIG = """\
version: 1
server:
  name: End to end
  base_url: {base_url}
zone:
  url: {issuer}
  required_scopes: [mcp:tools]
credentials:
  client_id: ${{TEST_CLIENT_ID}}
  client_secret: ${{TEST_CLIENT_SECRET}}
tools:
  - function: examples.delegation:whoami
    grants:
      - https://api.weather.example/
      - resource: https://mail.example/
        scopes: [mail.read]
  - function: examples.weather:forecast
    grants: [https://api.weather.example/]
  - function: examples.calendar:sync_calendar
    name: sync
    scopes: [calendar:write]
    grants: [https://calendar.example/, https://mail.example/]
"""


def launch_config(authserver, tmp: Path):
    """``keycard-serve CONFIG`` on a free port, its zone the test authorization server."""
    base_url = f"http://127.0.0.1:{free_port()}/"
    config = tmp / "keycard-serve.yaml"
    config.write_text(CONFIG.format(base_url=base_url, issuer=authserver.issuer))
    client_id, secret = authserver.clients["mcp-server"]
    env = {"TEST_CLIENT_ID": client_id, "TEST_CLIENT_SECRET": secret}
    return launch([str(config)], base_url=base_url, env=env, log_path=tmp / "log.txt")


@pytest.fixture(scope="module")
def server(authserver, tmp_path_factory):
    with launch_config(authserver, tmp_path_factory.mktemp("e2e")) as running:
        yield running


async def test_tools_get_the_tokens_the_config_grants(authserver, server):
    token = authserver.user_token("alice", server.mcp_url, scopes=["mcp:tools"])
    async with Client(server.mcp_url, auth=token) as client:
        result = await client.call_tool("whoami", {})
        forecast = await client.call_tool("forecast", {"city": "Oslo"})
    tokens = result.data["tokens"]
    assert result.data["status"] == "success"
    assert set(tokens) == {"https://api.weather.example/", "https://mail.example/"}
    mail = tokens["https://mail.example/"]
    assert (mail["sub"], mail["aud"], mail["act"], mail["scope"]) == (
        "alice",
        "https://mail.example/",
        {"sub": "mcp-server"},
        "mail.read",
    )
    assert forecast.data.startswith("Forecast for Oslo: sunny")


async def test_a_tool_scope_the_token_lacks_is_403_with_step_up_hint(authserver, server):
    token = authserver.user_token("alice", server.mcp_url, scopes=["mcp:tools"])
    response = httpx.post(
        server.mcp_url,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
        },
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "sync", "arguments": {}},
        },
    )
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="mcp:tools calendar:write"' in challenge
    assert f'resource_metadata="{server.base_url}.well-known/oauth-protected-resource/mcp"' in (
        challenge
    )


async def test_with_the_tool_scope_the_call_goes_through(authserver, server):
    token = authserver.user_token("alice", server.mcp_url, scopes=["mcp:tools", "calendar:write"])
    async with Client(server.mcp_url, auth=token) as client:
        result = await client.call_tool("sync", {"days": 3})
    assert result.data == {"ok": True, "days": 3, "tokens": True}


def test_the_banner_names_tools_and_grants_but_no_secret(authserver, server):
    log = server.log()
    assert "MCP endpoint   " + server.mcp_url in log
    assert "-> https://mail.example/  (scope mail.read)" in log
    assert "sync  [needs scope calendar:write]" in log
    assert authserver.clients["mcp-server"][1] not in log


def test_prm_advertises_every_scope_a_client_may_need(server):
    document = httpx.get(server.base_url + ".well-known/oauth-protected-resource/mcp").json()
    assert document["scopes_supported"] == ["mcp:tools", "calendar:write"]


def test_ctrl_c_stops_it_cleanly(authserver, tmp_path):
    with launch_config(authserver, tmp_path) as running:
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(timeout=10) == 0
    assert "Traceback" not in running.log()
