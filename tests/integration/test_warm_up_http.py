"""The server meets its zone while it starts, so the first call waits for no discovery or
key fetch (issue 11); a zone that does not answer then delays nothing and breaks nothing."""

from __future__ import annotations

import logging
import time

import httpx
from fastmcp import Client, Context, FastMCP

from keycard_serve import AuthProvider, ClientSecret
from tests.support.authserver import AuthServer
from tests.support.keys import rsa_key, sign
from tests.support.mcp_server import serve_mcp
from tests.support.servers import free_port

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
ACCEPT = {"Accept": "application/json, text/event-stream"}


async def test_discovery_and_keys_are_fetched_before_the_server_reports_ready(
    authserver: AuthServer,
):
    def build(base_url: str) -> FastMCP:
        provider = AuthProvider(
            zone_url=authserver.issuer,
            mcp_base_url=base_url,
            application_credential=ClientSecret(authserver.clients["mcp-server"]),
        )
        mcp = FastMCP("warm", auth=provider.get_remote_auth_provider())

        @mcp.tool()
        @provider.grant("https://mail.example/")
        async def mail(ctx: Context) -> str:
            return (await ctx.get_state("keycardai")).get_status()

        return mcp

    authserver.reset_stats()
    with serve_mcp(build) as server:
        at_start = authserver.stats()  # uvicorn has reported startup complete
        assert at_start["metadata"] >= 1 and at_start["jwks"] == 1
        token = authserver.user_token("alice", server.mcp_url)
        async with Client(server.mcp_url, auth=token) as client:
            assert (await client.call_tool("mail", {})).data == "success"
        after = authserver.stats()
    assert (after["metadata"], after["jwks"]) == (at_start["metadata"], 1)
    assert after["token_exchange"] == 1


def test_a_zone_that_does_not_answer_at_start_is_logged_and_retried_by_calls(caplog):
    caplog.set_level(logging.WARNING, logger="keycard_serve.auth")
    zone = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    def build(base_url: str) -> FastMCP:
        provider = AuthProvider(zone_url=zone, mcp_base_url=base_url)
        return FastMCP("cold", auth=provider.get_remote_auth_provider())

    with serve_mcp(build) as server:
        assert "zone not reachable at start" in caplog.text
        now = int(time.time())
        claims = {"iss": zone, "aud": server.mcp_url, "sub": "alice", "iat": now, "exp": now + 300}
        token = sign(claims, rsa_key())  # well-formed: only the zone's keys could refuse it
        response = httpx.post(
            server.mcp_url, headers={**ACCEPT, "Authorization": f"Bearer {token}"}, json=PING
        )
    # The call tried the zone again and could not check the token: 503, never a 401.
    assert response.status_code == 503
    assert response.headers["retry-after"]
