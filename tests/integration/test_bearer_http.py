"""How the Authorization header is read (security catalogue 2a #1-#4), and that no token ever
reaches a log line."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastmcp import Client, Context, FastMCP

from keycard_serve import AuthProvider, ClientSecret
from tests.support.mcp_server import serve_mcp

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def server(authserver):
    def build(base_url: str) -> FastMCP:
        provider = AuthProvider(
            zone_url=authserver.issuer,
            mcp_base_url=base_url,
            application_credential=ClientSecret(authserver.clients["mcp-server"]),
        )
        mcp = FastMCP("bearer", auth=provider.get_remote_auth_provider())

        @mcp.tool()
        @provider.grant(["https://mail.example/", "https://denied.example/"])
        async def mail(ctx: Context) -> str:
            access = await ctx.get_state("keycardai")
            return access.get_status()

        return mcp

    with serve_mcp(build) as running:
        yield running


def post(server, headers: dict[str, str], **kwargs) -> httpx.Response:
    return httpx.post(server.mcp_url, headers={**ACCEPT, **headers}, json=PING, **kwargs)


def test_the_scheme_is_case_insensitive(server, authserver):
    token = authserver.user_token("alice", server.mcp_url)
    response = post(server, {"Authorization": f"bearer {token}"})
    # Past authentication: the MCP transport answers (a ping outside a session is its 400).
    assert response.status_code not in (401, 403)
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer"])
def test_other_schemes_and_empty_tokens_are_challenged(server, header):
    response = post(server, {"Authorization": header})
    assert response.status_code == 401
    assert "resource_metadata=" in response.headers["www-authenticate"]


def test_a_token_in_the_query_string_never_authenticates(server, authserver):
    token = authserver.user_token("alice", server.mcp_url)
    response = httpx.post(server.mcp_url, params={"access_token": token}, headers=ACCEPT, json=PING)
    assert response.status_code == 401
    assert "error=" not in response.headers["www-authenticate"]


@pytest.mark.parametrize("junk", ["a" * 20_000, "x.y.z", "e30.e30.", "\u00e9t\u00e9.a.b"])
def test_junk_tokens_are_invalid_not_errors(server, junk):
    response = httpx.post(
        server.mcp_url,
        headers={**ACCEPT, "Authorization": b"Bearer " + junk.encode()},
        json=PING,
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_no_token_or_secret_reaches_the_logs(server, authserver, caplog):
    caplog.set_level(logging.DEBUG)
    token = authserver.user_token("alice", server.mcp_url)
    async with Client(server.mcp_url, auth=token) as client:
        result = await client.call_tool("mail", {})
    assert result.data == "partial_error"  # one exchange succeeded, one was refused
    post(server, {"Authorization": f"Bearer {token}x"})  # a tampered token is logged as refused
    secret = authserver.clients["mcp-server"][1]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "token exchange for https://denied.example/ failed" in logged
    for sensitive in (token, token.split(".")[2], secret):
        assert sensitive not in logged


def test_a_session_is_bound_to_the_user_who_opened_it(server, authserver):
    # Security catalogue #8: another user's token with a stolen session id gets nothing.
    alice = authserver.user_token("alice", server.mcp_url)
    bob = authserver.user_token("bob", server.mcp_url)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    opened = httpx.post(
        server.mcp_url, headers={**ACCEPT, "Authorization": f"Bearer {alice}"}, json=initialize
    )
    session = opened.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}

    def list_tools(token: str) -> httpx.Response:
        headers = {
            **ACCEPT,
            "Authorization": f"Bearer {token}",
            "Mcp-Session-Id": session,
            "MCP-Protocol-Version": "2025-11-25",
        }
        return httpx.post(server.mcp_url, headers=headers, json=listing)

    assert list_tools(alice).status_code == 200
    hijack = list_tools(bob)
    assert hijack.status_code == 404
    assert "mail" not in hijack.text
