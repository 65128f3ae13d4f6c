"""MCP 2026-07-28's security rules, through ``keycard-serve CONFIG`` on its dev zone.

The ``Origin`` rule on every route of the server and of the zone, scope hierarchies, one
complete ``insufficient_scope`` challenge, and ``server.list_tools: permitted`` — each as a
user meets it: real HTTP to a real subprocess, tokens from ``keycard-serve token``, tool
listing and calls by fastmcp's own client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastmcp import Client

from tests.clients.devserver import DevServer
from tests.support.launcher import launch
from tests.support.servers import free_port

CONFIG = """\
version: 1
server:
  name: Spec rules
  base_url: {base_url}
  list_tools: {list_tools}
{origins}
zone:
  dev: {{port: {zone_port}}}
  required_scopes: [mcp:tools]
  scope_hierarchy:
    mcp:all: [mcp:tools, tools:admin]
    tools:admin: [tools:read, tools:write]
tools:
  - function: examples.weather:forecast
    scopes: [tools:read]
    grants: [https://api.weather.example/]
  - function: examples.calendar:sync_calendar
    name: sync
    scopes: [tools:write, calendar:write]
    grants: [https://calendar.example/, https://mail.example/]
  - function: examples.delegation:whoami
"""
EVIL = "http://evil.example"
INSPECTOR = "http://localhost:6274"
APP = "https://app.example.com"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
JSON_RPC = {"Accept": "application/json, text/event-stream"}


def _serve(tmp: Path, *, list_tools: str = "all", origins: str = "") -> Iterator[DevServer]:
    base_url = f"http://127.0.0.1:{free_port()}/"
    zone_port = free_port()
    config = tmp / "keycard-serve.yaml"
    config.write_text(
        CONFIG.format(
            base_url=base_url, zone_port=zone_port, list_tools=list_tools, origins=origins
        )
    )
    env = {"KEYCARD_SERVE_STATE_DIR": str(tmp / "state")}
    with launch([str(config)], base_url=base_url, env=env, log_path=tmp / "server.log") as run:
        yield DevServer(run, config, env, issuer=f"http://127.0.0.1:{zone_port}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """Default origins, the full tool list."""
    yield from _serve(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """One allowed origin besides its own, and tools/list filtered by the caller's scopes."""
    origins = f"  allowed_origins: [{APP}]"
    yield from _serve(tmp_path_factory.mktemp("strict"), list_tools="permitted", origins=origins)


def _routes(served: DevServer) -> list[tuple[str, str]]:
    """Every kind of route the server serves: the MCP endpoint, metadata, mirrors, health."""
    base = served.base_url
    return [
        ("POST", served.mcp_url),
        ("GET", base + ".well-known/oauth-protected-resource/mcp"),
        ("GET", base + ".well-known/oauth-protected-resource"),
        ("GET", base + ".well-known/oauth-authorization-server"),
        ("GET", base + "healthz"),
    ]


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "forbidden_origin"
    assert "www-authenticate" not in response.headers
    assert "access-control-allow-origin" not in response.headers


# --- 1. Origin -------------------------------------------------------------------------------


def test_a_page_of_another_origin_is_refused_on_every_route(served: DevServer) -> None:
    token = served.token()
    for method, url in _routes(served):
        headers = {"Origin": EVIL, "Authorization": f"Bearer {token}", **JSON_RPC}
        _refused(httpx.request(method, url, headers=headers, json=INITIALIZE))
        preflight = {"Origin": EVIL, "Access-Control-Request-Method": method}
        _refused(httpx.options(url, headers=preflight))


def test_requests_without_origin_are_unaffected(served: DevServer) -> None:
    assert httpx.post(served.mcp_url, json=INITIALIZE, headers=JSON_RPC).status_code == 401
    for method, url in _routes(served)[1:]:
        response = httpx.request(method, url)
        assert response.status_code == 200, url
        assert "access-control-allow-origin" not in response.headers
        # A cache that stores this answer must not hand it to a page: it varies by Origin.
        assert "origin" in response.headers.get("vary", "").lower(), url


@pytest.mark.parametrize("origin", [INSPECTOR, "http://127.0.0.1:5173", "own"])
def test_loopback_pages_and_the_own_origin_are_allowed_with_cors(
    served: DevServer, origin: str
) -> None:
    if origin == "own":
        origin = served.base_url.rstrip("/")
    challenge = httpx.post(served.mcp_url, json=INITIALIZE, headers={"Origin": origin, **JSON_RPC})
    assert challenge.status_code == 401
    assert challenge.headers["access-control-allow-origin"] == origin  # never "*"
    assert "origin" in challenge.headers["vary"].lower()
    for _, url in _routes(served)[1:]:
        response = httpx.get(url, headers={"Origin": origin})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin


def test_allowed_origins_are_exact_and_replace_the_loopback_default(strict: DevServer) -> None:
    headers = {"Origin": APP, **JSON_RPC}
    allowed = httpx.post(strict.mcp_url, json=INITIALIZE, headers=headers)
    assert allowed.status_code == 401
    assert allowed.headers["access-control-allow-origin"] == APP
    own = strict.base_url.rstrip("/")
    assert httpx.get(strict.base_url + "healthz", headers={"Origin": own}).status_code == 200
    for origin in (INSPECTOR, APP + ":8443", "https://evil.app.example.com", "null"):
        _refused(httpx.post(strict.mcp_url, json=INITIALIZE, headers={"Origin": origin}))


def test_the_dev_zone_refuses_other_origins_and_hosts(served: DevServer) -> None:
    zone = served.issuer
    metadata = zone + "/.well-known/oauth-authorization-server"
    for method, url in [("GET", metadata), ("POST", zone + "/token"), ("GET", zone + "/jwks")]:
        _refused(httpx.request(method, url, headers={"Origin": EVIL}))
    for path in ("/authorize", "/register"):
        _refused(httpx.post(zone + path, headers={"Origin": EVIL}))
    inspector = httpx.get(metadata, headers={"Origin": INSPECTOR})
    assert inspector.status_code == 200
    assert inspector.headers["access-control-allow-origin"] == INSPECTOR
    # DNS rebinding: the attacker's name, resolved to 127.0.0.1, is in Host.
    assert httpx.get(metadata, headers={"Host": "evil.example"}).status_code == 421


# --- 2. and 3. Scope hierarchies, one complete challenge -------------------------------------


def test_the_401_challenge_names_the_scopes_needed_to_start(served: DevServer) -> None:
    challenge = httpx.post(served.mcp_url, json=INITIALIZE, headers=JSON_RPC)
    assert challenge.status_code == 401
    assert 'scope="mcp:tools"' in challenge.headers["www-authenticate"]


async def test_a_broader_scope_passes_where_a_narrower_one_is_needed(served: DevServer) -> None:
    # mcp:all implies mcp:tools (server-wide) and, through tools:admin, tools:read and write.
    async with Client(served.mcp_url, auth=served.token("mcp:all", "calendar:write")) as client:
        forecast = await client.call_tool("forecast", {"city": "Paris"})
        assert not forecast.is_error
        assert "sunny" in forecast.data
        synced = await client.call_tool("sync", {})
        assert synced.data["ok"] is True


def _call(served: DevServer, token: str, tool: str) -> httpx.Response:
    message = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {}},
    }
    headers = {"Authorization": f"Bearer {token}", "MCP-Protocol-Version": "2025-11-25"}
    return httpx.post(served.mcp_url, json=message, headers={**headers, **JSON_RPC})


def test_one_403_names_every_scope_the_call_needs(served: DevServer) -> None:
    # tools:admin covers tools:write, but neither the server-wide mcp:tools nor calendar:write.
    refused = _call(served, served.token("tools:admin"), "sync")
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="mcp:tools tools:write calendar:write"' in challenge
    assert f'resource_metadata="{served.base_url}.well-known/oauth-protected-resource/mcp"' in (
        challenge
    )


def test_a_narrower_scope_does_not_pass_for_a_broader_one(served: DevServer) -> None:
    refused = _call(served, served.token("mcp:tools", "tools:read"), "sync")
    assert refused.status_code == 403
    assert 'scope="mcp:tools tools:write calendar:write"' in refused.headers["www-authenticate"]


# --- 5. list_tools -----------------------------------------------------------------------------


async def _listed(served: DevServer, *scopes: str) -> set[str]:
    async with Client(served.mcp_url, auth=served.token(*scopes)) as client:
        return {tool.name for tool in await client.list_tools()}


async def test_list_tools_all_shows_tools_the_caller_cannot_call(served: DevServer) -> None:
    assert await _listed(served, "mcp:tools") == {"forecast", "sync", "whoami"}


async def test_list_tools_permitted_hides_what_the_token_cannot_call(strict: DevServer) -> None:
    assert await _listed(strict, "mcp:tools") == {"whoami"}
    assert await _listed(strict, "mcp:tools", "tools:read") == {"forecast", "whoami"}
    everything = await _listed(strict, "mcp:all", "calendar:write")
    assert everything == {"forecast", "sync", "whoami"}
    # Hidden is not callable: the call still gets the step-up challenge.
    assert _call(strict, strict.token("mcp:tools"), "forecast").status_code == 403
