"""fastmcp's own OAuth client (the MCP SDK flow underneath) against the zone, end to end.

No MCP server is needed to drive it: a stub protected resource answers 401 with RFC 9728
metadata naming the zone, and accepts the zone's tokens for its own audience. The client then
discovers the zone, registers by DCR, authorizes with PKCE and ``resource``, checks the RFC 9207
``iss``, redeems the code and retries — the path Claude Code, Inspector and fastmcp take.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import httpx2
import jwt
import pytest
import pytest_asyncio
from fastmcp.client.auth import OAuth
from mcp.shared.auth import AuthorizationCodeResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keycard_serve.devzone import DevZone
from tests.support.servers import bound_socket, serve_asgi

pytestmark = pytest.mark.asyncio(loop_scope="module")


class _HeadlessOAuth(OAuth):
    """Plays the browser: follows /authorize itself (auto-approved) and reads the redirect."""

    authorization_urls: list[str]
    _location: str = ""

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        async with httpx2.AsyncClient() as browser:
            response = await browser.get(authorization_url, follow_redirects=False)
        assert response.status_code == 302, response.text
        self._location = response.headers["location"]

    async def callback_handler(self) -> AuthorizationCodeResult:
        query = dict(parse_qsl(urlsplit(self._location).query))
        return AuthorizationCodeResult(code=query["code"], state=query["state"], iss=query["iss"])


def _protected_resource(zone: DevZone, jwks: dict[str, Any], port: int) -> Starlette:
    base = f"http://127.0.0.1:{port}"
    resource = f"{base}/mcp"
    keys = jwt.PyJWKSet.from_dict(jwks)

    async def metadata(request: Request) -> Response:
        return JSONResponse({"resource": resource, "authorization_servers": [zone.issuer]})

    async def mcp(request: Request) -> Response:
        _, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            kid = jwt.get_unverified_header(token)["kid"]
            claims = jwt.decode(
                token, keys[kid].key, algorithms=["ES256"], audience=resource, issuer=zone.issuer
            )
        except (jwt.InvalidTokenError, KeyError):
            challenge = (
                f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
            )
            return JSONResponse({}, status_code=401, headers={"WWW-Authenticate": challenge})
        return JSONResponse({"sub": claims["sub"], "client_id": claims["client_id"]})

    return Starlette(
        routes=[
            Route("/.well-known/oauth-protected-resource/mcp", metadata),
            Route("/mcp", mcp, methods=["POST"]),
        ]
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def resource_server(zone: DevZone, http: httpx.AsyncClient) -> AsyncIterator[str]:
    jwks = (await http.get("/jwks")).json()
    sock = bound_socket()
    port = sock.getsockname()[1]
    with serve_asgi(_protected_resource(zone, jwks, port), sock=sock) as base:
        yield base


async def test_fastmcp_oauth_client_completes_the_flow(zone: DevZone, resource_server: str) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using in-memory token storage")
        oauth = _HeadlessOAuth(mcp_url=f"{resource_server}/mcp", client_name="fastmcp test")
    oauth.authorization_urls = []
    async with httpx2.AsyncClient(auth=oauth) as client:
        response = await client.post(f"{resource_server}/mcp")
        assert response.status_code == 200, response.text
        assert response.json()["sub"] == "alice"

        [authorization_url] = oauth.authorization_urls
        sent = dict(parse_qsl(urlsplit(authorization_url).query))
        assert authorization_url.startswith(f"{zone.issuer}/authorize?")
        assert sent["code_challenge_method"] == "S256"
        assert sent["resource"] == f"{resource_server}/mcp"
        registered = zone._authority.clients.get(sent["client_id"])
        assert registered is not None and registered.is_public  # registered by DCR

        again = await client.post(f"{resource_server}/mcp")  # token reused, no second login
        assert again.status_code == 200
        assert len(oauth.authorization_urls) == 1
