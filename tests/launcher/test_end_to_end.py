"""``keycard-serve CONFIG`` as a subprocess, against the real test authorization server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import SSETransport
from fastmcp.exceptions import ToolError

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


async def test_deeply_nested_json_is_not_a_server_error(authserver, server):
    token = authserver.user_token("alice", server.mcp_url, scopes=["mcp:tools"])
    nested = "[" * 5000 + "]" * 5000
    body = (
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sync",'
        f'"arguments":{{"x":{nested}}}}}}}'
    )
    response = httpx.post(
        server.mcp_url,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        },
        content=body,
    )
    assert response.status_code < 500


SSE_CONFIG = """\
version: 1
server: {{name: sse, base_url: "{base_url}", transport: sse}}
zone: {{dev: {{port: {dev_port}}}}}
tools:
  - function: examples.weather:forecast
    scopes: [admin]
    grants: [https://api.weather.example/]
"""


async def test_tool_scopes_hold_over_sse_too(tmp_path):
    base_url = f"http://127.0.0.1:{free_port()}/"
    config = tmp_path / "sse.yaml"
    config.write_text(SSE_CONFIG.format(base_url=base_url, dev_port=free_port()))
    env = {"KEYCARD_SERVE_STATE_DIR": str(tmp_path / "state")}
    with launch([str(config)], base_url=base_url, env=env, log_path=tmp_path / "log") as running:

        def token(*scopes: str) -> str:
            args = ["token", str(config)] + [a for s in scopes for a in ("--scope", s)]
            return subprocess.run(
                [sys.executable, "-m", "keycard_serve", *args],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()

        transport = SSETransport(running.mcp_url, auth=token("mcp:tools"))
        async with Client(transport) as client:
            with pytest.raises(ToolError, match="insufficient_scope"):
                await client.call_tool("forecast", {"city": "Oslo"})
        async with Client(SSETransport(running.mcp_url, auth=token("admin"))) as client:
            result = await client.call_tool("forecast", {"city": "Oslo"})
    assert result.data.startswith("Forecast for Oslo")


@pytest.mark.parametrize(
    ("client", "secret", "problem"),
    [
        ("mcp-server", None, None),
        ("mcp-server", "wrong-SENTINEL", "the zone refused the client credentials"),
        ("no-exchange", None, "this client may not use token exchange"),
    ],
)
def test_validate_online_checks_discovery_and_credentials(
    authserver, tmp_path, client, secret, problem
):
    config = tmp_path / "online.yaml"
    config.write_text(CONFIG.format(base_url="http://127.0.0.1:8000/", issuer=authserver.issuer))
    client_id, real_secret = authserver.clients[client]
    env = {**os.environ, "TEST_CLIENT_ID": client_id, "TEST_CLIENT_SECRET": secret or real_secret}
    validate = [sys.executable, "-m", "keycard_serve", "validate"]
    offline = subprocess.run([*validate, str(config)], env=env, capture_output=True, text=True)
    online = subprocess.run(
        [*validate, "--online", str(config)], env=env, capture_output=True, text=True
    )
    assert offline.returncode == 0  # offline, bad credentials cannot be noticed
    assert online.returncode == (1 if problem else 0), online.stdout + online.stderr
    if problem:
        assert f"credentials: {problem}" in online.stdout
    else:  # oidc-provider answers the probe's bad subject token as RFC 8693 2.2.2 says
        assert "warning: credentials: the zone refused the probe: invalid_request" in online.stdout
    assert "SENTINEL" not in online.stdout + online.stderr
    assert "keycard-serve.invalid" not in online.stderr  # the probe's failure is not logged


def test_validate_online_reports_an_unreachable_zone(tmp_path):
    config = tmp_path / "down.yaml"
    config.write_text(CONFIG.format(base_url="http://127.0.0.1:8000/", issuer="http://127.0.0.1:9"))
    env = {**os.environ, "TEST_CLIENT_ID": "x", "TEST_CLIENT_SECRET": "y"}
    result = subprocess.run(
        [sys.executable, "-m", "keycard_serve", "validate", "--online", str(config)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "zone: discovery failed" in result.stdout
