"""The memory of verified tokens, over HTTP: it never outlives the token or the configuration
that accepted it (issue 11). Key removal from the JWKS: test_key_rotation_http.py."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from fastmcp import FastMCP

from keycard_serve import AuthProvider, KeycardAuth
from tests.support.authserver import AuthServer, run_authserver
from tests.support.mcp_server import RunningServer, serve_mcp

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def short_lived() -> Iterator[AuthServer]:
    """A second zone whose user tokens live 2 seconds."""
    with run_authserver(user_token_ttl=2) as server:
        yield server


def provider(zone: AuthServer, base_url: str) -> AuthProvider:
    return AuthProvider(zone_url=zone.issuer, mcp_base_url=base_url, leeway=0)


@pytest.fixture
def served(authserver: AuthServer) -> Iterator[tuple[RunningServer, KeycardAuth]]:
    bound: list[KeycardAuth] = []

    def build(base_url: str) -> FastMCP:
        bound.append(provider(authserver, base_url).get_remote_auth_provider())
        return FastMCP("cache", auth=bound[0])

    with serve_mcp(build) as running:
        yield running, bound[0]


def status(server: RunningServer, token: str) -> int:
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    return httpx.post(server.mcp_url, headers=headers, json=PING).status_code


def accepted(code: int) -> bool:
    # Past authentication, the MCP transport answers a ping outside a session with its 400.
    return code not in (401, 403, 503)


def expiry(token: str) -> int:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]


def test_a_token_that_expires_while_remembered_gets_401(served, short_lived):
    server, auth = served
    auth.rebind(provider(short_lived, server.base_url))
    token = short_lived.user_token("alice", server.mcp_url)
    exp = expiry(token)
    assert accepted(status(server, token)) and accepted(status(server, token))
    deadline = time.monotonic() + 10
    while accepted(code := status(server, token)):
        assert time.monotonic() < deadline, "an expired token was still accepted"
    assert code == 401
    assert time.time() >= exp  # refused from its exp on (leeway 0), never before


def test_a_rebind_forgets_the_tokens_the_old_configuration_accepted(
    served, authserver, short_lived
):
    server, auth = served
    token = authserver.user_token("alice", server.mcp_url)
    assert accepted(status(server, token)) and accepted(status(server, token))
    auth.rebind(provider(short_lived, server.base_url))  # another zone: its issuer and keys
    assert status(server, token) == 401
    auth.rebind(provider(authserver, server.base_url))
    assert accepted(status(server, token))
