"""keycard-serve against a real authorization server, a real HTTP server and real MCP clients.

The user's token comes from oidc-provider; the MCP server verifies it with the zone's JWKS,
exchanges it (RFC 8693) per granted resource, and the tool sees the delegated token.
"""

from __future__ import annotations

import asyncio

import httpx
import jwt
import pytest
from fastmcp import Client, Context, FastMCP
from fastmcp.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from keycard_serve import AccessContext, AuthProvider, ClientSecret, PrivateKeyJWT
from tests.support.authserver import AuthServer
from tests.support.mcp_server import serve_mcp

MAIL = "https://mail.example/"
CALENDAR = "https://calendar.example/"
DENIED = "https://denied.example/"


def build_server(authserver: AuthServer, credential=None, **provider_args):
    def build(base_url: str) -> FastMCP:
        auth_provider = AuthProvider(
            zone_url=authserver.issuer,
            mcp_server_name="Conformance",
            mcp_base_url=base_url,
            application_credential=credential or ClientSecret(authserver.clients["mcp-server"]),
            **provider_args,
        )
        mcp = FastMCP("Conformance", auth=auth_provider.get_remote_auth_provider())

        @mcp.tool()
        @auth_provider.grant([MAIL, CALENDAR])
        def read_both(ctx: Context) -> dict:
            access_context: AccessContext = ctx.get_state("keycardai")
            return {
                "status": access_context.get_status(),
                "tokens": {
                    r: access_context.access(r).access_token
                    for r in access_context.get_successful_resources()
                },
            }

        @mcp.tool()
        @auth_provider.grant([MAIL, DENIED], scopes={MAIL: ["mail.read"]})
        async def partly_denied(ctx: Context) -> dict:
            access_context: AccessContext = await ctx.get_state("keycardai")
            return {
                "status": access_context.get_status(),
                "ok": access_context.get_successful_resources(),
                "errors": access_context.get_errors()["resource_errors"],
            }

        return mcp

    return build


def post_ping(url: str, token: str) -> httpx.Response:
    return httpx.post(
        url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )


def claims(token: str, authserver: AuthServer) -> dict:
    keys = jwt.PyJWKClient(authserver.jwks_uri)
    key = keys.get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False})


@pytest.fixture
def server(authserver):
    with serve_mcp(build_server(authserver)) as running:
        yield running


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_granted_tool_receives_a_real_delegated_token(authserver, server, mode):
    user_token = authserver.user_token("alice", server.mcp_url)
    async with Client(server.mcp_url, auth=user_token, mode=mode) as client:
        result = await client.call_tool("read_both", {})

    assert result.data["status"] == "success"
    mail = claims(result.data["tokens"][MAIL], authserver)
    calendar = claims(result.data["tokens"][CALENDAR], authserver)
    assert (mail["aud"], mail["sub"], mail["act"]) == (MAIL, "alice", {"sub": "mcp-server"})
    assert (calendar["aud"], calendar["sub"]) == (CALENDAR, "alice")
    assert user_token not in result.data["tokens"].values()


async def test_a_denied_resource_does_not_cost_the_others(authserver, server):
    user_token = authserver.user_token("bob", server.mcp_url)
    async with Client(server.mcp_url, auth=user_token) as client:
        result = await client.call_tool("partly_denied", {})
    assert result.data["status"] == "partial_error"
    assert result.data["ok"] == [MAIL]
    assert result.data["errors"][DENIED]["oauth_error"] == "invalid_target"
    assert user_token not in str(result.data)


async def test_repeated_calls_reuse_exchanged_tokens(authserver, server):
    user_token = authserver.user_token("alice", server.mcp_url)
    authserver.reset_stats()
    async with Client(server.mcp_url, auth=user_token) as client:
        first = await client.call_tool("read_both", {})
        second = await client.call_tool("read_both", {})
        concurrent = await asyncio.gather(*(client.call_tool("read_both", {}) for _ in range(5)))
    assert first.data == second.data == concurrent[0].data
    assert authserver.stats()["token_exchange"] == 2  # one per resource, not per call


async def call_as_alice(authserver, credential, tool: str):
    """Serve with ``credential`` as the server's client, and call ``tool`` as alice."""
    with serve_mcp(build_server(authserver, credential)) as running:
        user_token = authserver.user_token("alice", running.mcp_url)
        async with Client(running.mcp_url, auth=user_token) as client:
            return await client.call_tool(tool, {})


async def test_private_key_jwt_credential(authserver):
    credential = PrivateKeyJWT(
        authserver.pkjwt_client_id,
        authserver.pkjwt_private_key_pem,
        key_id=authserver.pkjwt_kid,
    )
    # Two concurrent exchanges: the zone refuses a replayed assertion (jti), so both
    # succeeding shows each request signs a fresh one.
    result = await call_as_alice(authserver, credential, "read_both")
    assert result.data["status"] == "success"
    mail = claims(result.data["tokens"][MAIL], authserver)
    assert mail["act"] == {"sub": authserver.pkjwt_client_id}


async def test_form_encoded_client_secret_with_special_characters(authserver):
    credential = ClientSecret(("mcp:special", "p@ss:w%rd+ /x"))
    result = await call_as_alice(authserver, credential, "read_both")
    assert result.data["status"] == "success"
    assert claims(result.data["tokens"][MAIL], authserver)["act"] == {"sub": "mcp:special"}


async def test_a_wrong_client_secret_is_an_error_the_tool_can_read(authserver):
    result = await call_as_alice(authserver, ClientSecret(("mcp-server", "wrong")), "partly_denied")
    # Every resource failed, no global error: 0.9.0's "partial_error", kept as it was.
    assert result.data["status"] == "partial_error"
    assert result.data["ok"] == []
    assert result.data["errors"][MAIL]["oauth_error"] == "invalid_client"
    assert "wrong" not in str(result.data)


async def test_tokens_for_another_resource_are_refused(authserver, server):
    other_server_token = authserver.user_token("alice", "http://127.0.0.1:1/mcp")
    response = post_ping(server.mcp_url, other_server_token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    with pytest.raises(MCPError):
        async with Client(server.mcp_url, auth=other_server_token) as client:
            await client.call_tool("read_both", {})


async def test_a_token_for_the_base_url_is_accepted_as_the_seed_configured_it(authserver, server):
    user_token = authserver.user_token("alice", server.base_url)
    async with Client(server.mcp_url, auth=user_token) as client:
        result = await client.call_tool("read_both", {})
    assert result.data["status"] == "success"


async def test_missing_required_scope_is_403_insufficient_scope(authserver):
    with serve_mcp(build_server(authserver, required_scopes=["admin"])) as running:
        user_token = authserver.user_token("alice", running.mcp_url, scopes=["mcp:tools"])
        response = post_ping(running.mcp_url, user_token)
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="admin"' in challenge
    expected_metadata = f"{running.base_url}.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{expected_metadata}"' in challenge


async def test_tool_errors_never_leak_tokens(authserver, server):
    user_token = authserver.user_token("alice", server.mcp_url)
    async with Client(server.mcp_url, auth=user_token) as client:
        with pytest.raises(ToolError) as raised:
            await client.call_tool("read_both", {"unexpected": 1})
    assert user_token not in str(raised.value)
