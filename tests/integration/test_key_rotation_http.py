"""A signing key leaving the zone's JWKS, over real HTTP with a real MCP client.

README "Token checks": a token that passed every check is remembered, but only while the JWKS
still serves the very key that verified it, so a key removed from the JWKS refuses the token
once the set is refetched; the set is refetched on an unknown ``kid``, at most once per 30 s.
The zone is the fake one on loopback: a real authorization server cannot be made to drop a
key in the middle of a test. The refetch is driven by its documented trigger (a token whose
``kid`` the cached set does not know), so this test waits out the 30 s cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fastmcp import Client, FastMCP
from fastmcp.server.dependencies import get_access_token

from keycard_serve import AuthProvider
from tests.support.fake_zone import FakeZone, run_fake_zone
from tests.support.keys import public_jwk, rsa_key, sign
from tests.support.mcp_server import RunningServer, serve_mcp
from tests.support.polling import poll

OLD_KEY, NEW_KEY = rsa_key("rotation-old"), rsa_key("rotation-new")
OLD_JWK = public_jwk(OLD_KEY, "old", alg="RS256")
NEW_JWK = public_jwk(NEW_KEY, "new", alg="RS256")
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
ACCEPT = {"Accept": "application/json, text/event-stream"}
# The kid-miss cooldown of README "Token checks" (30 s), plus room for a loaded machine.
REFETCH_DEADLINE = 60.0


@pytest.fixture
def zone() -> Iterator[FakeZone]:
    with run_fake_zone() as zone:
        zone.jwks = {"keys": [OLD_JWK]}
        yield zone


@pytest.fixture
def server(zone: FakeZone) -> Iterator[RunningServer]:
    def build(base_url: str) -> FastMCP:
        provider = AuthProvider(zone_url=zone.issuer, mcp_base_url=base_url)
        mcp = FastMCP("rotation", auth=provider.get_remote_auth_provider())

        @mcp.tool()
        def whoami() -> str:
            token = get_access_token()
            return token.claims["sub"] if token is not None else "nobody"

        return mcp

    with serve_mcp(build) as running:
        yield running


def access_token(zone: FakeZone, audience: str, key, kid: str, subject: str) -> str:
    """An RFC 9068 access token of the zone for ``audience``, signed by ``key`` under ``kid``."""
    now = int(time.time())
    claims = {
        "iss": zone.issuer,
        "aud": audience,
        "sub": subject,
        "client_id": "client",
        "iat": now,
        "exp": now + 600,
    }
    return sign(claims, key, kid=kid)


def ping(server: RunningServer, token: str) -> httpx.Response:
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    return httpx.post(server.mcp_url, headers=headers, json=PING, timeout=30)


def accepted(response: httpx.Response) -> bool:
    # Past authentication, the MCP transport answers a ping outside a session with its 400.
    return response.status_code not in (401, 403, 503)


async def whoami(server: RunningServer, token: str) -> str:
    async with Client(server.mcp_url, auth=token) as client:
        return (await client.call_tool("whoami", {})).data


async def test_a_remembered_token_is_refused_once_its_key_leaves_the_jwks(zone, server):
    old_token = access_token(zone, server.mcp_url, OLD_KEY, "old", "alice")
    # A full MCP session verifies the token on every request: it is accepted and remembered.
    assert await whoami(server, old_token) == "alice"
    assert accepted(ping(server, old_token))

    # The zone rotates: the old key leaves its JWKS, tokens are now signed by the new one.
    zone.jwks = {"keys": [NEW_JWK]}
    new_token = access_token(zone, server.mcp_url, NEW_KEY, "new", "bob")
    fetched = len(zone.paths("/jwks"))
    # The new token's unknown kid is what refetches the set (once the cooldown is over).
    poll(lambda: accepted(ping(server, new_token)), "the JWKS refetch", REFETCH_DEADLINE)
    assert len(zone.paths("/jwks")) > fetched
    assert await whoami(server, new_token) == "bob"

    # The old token was accepted and remembered; its key is gone, so now it is refused.
    refused = ping(server, old_token)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="{server.base_url}.well-known/oauth-protected-resource/mcp"' in (
        challenge
    )
    # And stays refused: the refusal was not remembered as a success, nor did it poison the
    # verdict of the token signed by the key the zone serves now.
    assert ping(server, old_token).status_code == 401
    assert await whoami(server, new_token) == "bob"
