"""Every discovery URL that real clients request from the MCP server answers, with CORS.

The seed README's Troubleshooting section lists what Cursor got 404 for; none of it may 404.
"""

from __future__ import annotations

import httpx
import pytest
from fastmcp import FastMCP

from keycard_serve import AuthProvider
from tests.support.mcp_server import serve_mcp


@pytest.fixture(scope="module")
def server(authserver):
    def build(base_url: str) -> FastMCP:
        auth_provider = AuthProvider(
            zone_url=authserver.issuer,
            mcp_server_name="Discovery",
            mcp_base_url=base_url.rstrip("/"),  # the slash is added for us
            required_scopes=["mcp:tools"],
        )
        return FastMCP("Discovery", auth=auth_provider.get_remote_auth_provider())

    with serve_mcp(build) as running:
        yield running


def test_unauthenticated_request_gets_a_challenge_without_error(server):
    response = httpx.post(server.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert "error=" not in challenge
    assert 'scope="mcp:tools"' in challenge
    assert (
        f'resource_metadata="{server.base_url}.well-known/oauth-protected-resource/mcp"'
        in challenge
    )


def test_a_garbage_token_gets_invalid_token(server):
    response = httpx.post(
        server.mcp_url,
        headers={"Authorization": "Bearer not.a.jwt"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "not.a.jwt" not in response.text


@pytest.mark.parametrize(
    ("path", "resource_suffix"),
    [
        (".well-known/oauth-protected-resource/mcp", "mcp"),
        ("mcp/.well-known/oauth-protected-resource", "mcp"),
        (".well-known/oauth-protected-resource", ""),
    ],
)
def test_protected_resource_metadata(server, authserver, path, resource_suffix):
    response = httpx.get(server.base_url + path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["resource"] == server.base_url + resource_suffix
    assert document["authorization_servers"] == [authserver.issuer]
    assert document["scopes_supported"] == ["mcp:tools"]
    assert document["bearer_methods_supported"] == ["header"]
    assert document["resource_name"] == "Discovery"


CURSOR_404S = [
    ".well-known/oauth-authorization-server/mcp",
    ".well-known/oauth-authorization-server",
    ".well-known/openid-configuration/mcp",
    "mcp/.well-known/openid-configuration",
    ".well-known/openid-configuration",
    "mcp/.well-known/oauth-authorization-server",
]


@pytest.mark.parametrize("path", CURSOR_404S)
def test_authorization_server_metadata_is_mirrored(server, authserver, path):
    response = httpx.get(server.base_url + path)
    assert response.status_code == 200
    document = response.json()
    assert document["issuer"] == authserver.issuer
    assert document["token_endpoint"] == authserver.token_endpoint


@pytest.mark.parametrize(
    "path", [".well-known/oauth-protected-resource/mcp", ".well-known/oauth-authorization-server"]
)
def test_browser_clients_can_read_discovery_documents(server, path):
    origin = {"Origin": "http://localhost:6274"}
    preflight = httpx.options(
        server.base_url + path,
        headers={**origin, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    # The allowed origin itself, never "*" (MCP transport: servers validate Origin).
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:6274"
    response = httpx.get(server.base_url + path, headers=origin)
    assert response.headers["access-control-allow-origin"] == "http://localhost:6274"
    assert "origin" in response.headers["vary"].lower()


def test_browser_clients_can_read_the_challenge(server):
    preflight = httpx.options(
        server.mcp_url,
        headers={
            "Origin": "http://localhost:6274",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": (
                "authorization, content-type, mcp-protocol-version, mcp-method, mcp-name"
            ),
        },
    )
    assert preflight.status_code == 200
    response = httpx.post(
        server.mcp_url,
        headers={"Origin": "http://localhost:6274"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    assert response.status_code == 401
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "www-authenticate" in exposed and "mcp-session-id" in exposed


def test_provider_construction_does_no_network_io():
    # An unreachable zone must not matter until the server handles a request.
    provider = AuthProvider(zone_url="http://127.0.0.1:9", mcp_base_url="http://127.0.0.1:8000")
    FastMCP("offline", auth=provider.get_remote_auth_provider()).http_app()


def test_an_unreachable_zone_gives_503_not_404_and_prm_still_answers():
    def build(base_url: str) -> FastMCP:
        provider = AuthProvider(zone_url="http://127.0.0.1:9", mcp_base_url=base_url)
        return FastMCP("offline", auth=provider.get_remote_auth_provider())

    with serve_mcp(build) as running:
        metadata = httpx.get(running.base_url + ".well-known/oauth-authorization-server")
        prm = httpx.get(running.base_url + ".well-known/oauth-protected-resource/mcp")
    assert metadata.status_code == 503
    assert metadata.json()["error"] == "temporarily_unavailable"
    assert prm.status_code == 200
    assert prm.json()["authorization_servers"] == ["http://127.0.0.1:9"]


def test_forwarded_headers_cannot_change_the_advertised_urls(server):
    # Behind a reverse proxy the configured base URL is the truth: a spoofed Host or
    # X-Forwarded-* header must not redirect clients (or their tokens) elsewhere.
    spoofed = {
        "Host": "evil.example",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
    }
    prm = httpx.get(server.base_url + ".well-known/oauth-protected-resource/mcp", headers=spoofed)
    challenge = httpx.post(server.mcp_url, headers=spoofed, json={}).headers["www-authenticate"]
    assert prm.json()["resource"] == server.mcp_url
    assert "evil.example" not in challenge
    assert server.base_url in challenge
