"""The FastMCP side: bearer verification, RFC 9728 metadata, and every discovery URL.

FastMCP's own middleware produces the challenges (401 without ``error`` when no token was
sent, 401 ``invalid_token`` for a bad one, 403 ``insufficient_scope`` for missing scopes, each
with an absolute ``resource_metadata``); this provider supplies what they point to, on every
path real clients probe, with CORS so browser clients can read it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastmcp.server.auth import AccessToken
from fastmcp.server.auth import AuthProvider as FastMCPAuthProvider
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._urls import resource_url, well_known_url
from .errors import DiscoveryError, TokenError

if TYPE_CHECKING:
    from .provider import AuthProvider

__all__ = ["KeycardAuth"]

logger = logging.getLogger("keycard_serve.auth")

_CACHE = {"Cache-Control": "max-age=300"}


class KeycardAuth(FastMCPAuthProvider):
    """A FastMCP ``AuthProvider`` backed by a keycard_serve ``AuthProvider``."""

    def __init__(self, provider: AuthProvider) -> None:
        super().__init__(
            base_url=provider.mcp_base_url, required_scopes=list(provider.required_scopes)
        )
        self.provider = provider
        self._audiences = provider.audiences(None)

    def set_mcp_path(self, mcp_path: str | None) -> None:
        super().set_mcp_path(mcp_path)
        self._audiences = self.provider.audiences(mcp_path)

    def rebind(self, provider: AuthProvider) -> None:
        """Serve from ``provider`` from the next request on (a config reload).

        The base URL must not change: the routes and challenges built from it are fixed
        for the life of the HTTP app. ``required_scopes`` is updated in place because
        FastMCP's challenge middleware holds that very list.
        """
        if provider.mcp_base_url != self.provider.mcp_base_url:
            raise ValueError("the base URL cannot change without a restart")
        self.provider = provider
        self.required_scopes[:] = provider.required_scopes

    @property
    def resource_metadata_url(self) -> str:
        """The absolute URL every challenge advertises (RFC 9728 path insertion)."""
        return well_known_url(self._audiences[0], "oauth-protected-resource")

    def insufficient_scope_challenge(self, tool_scopes: list[str]) -> str:
        """The 403 ``WWW-Authenticate`` for a tool needing ``tool_scopes`` (MCP step-up)."""
        scopes = " ".join(dict.fromkeys([*self.required_scopes, *tool_scopes]))
        return (
            f'Bearer error="insufficient_scope", scope="{scopes}", '
            f'resource_metadata="{self.resource_metadata_url}"'
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            verified = await self.provider.verify(token, self._audiences)
        except TokenError as exc:
            logger.info("bearer token rejected: %s", exc.code)
            return None
        except DiscoveryError as exc:
            logger.error("cannot verify tokens, zone metadata unavailable: %s", exc.code)
            return None
        return AccessToken(
            token=token,
            client_id=verified.client_id or verified.subject,
            scopes=list(verified.scopes),
            expires_at=verified.expires_at,
            resource=_first_match(verified.audience, self._audiences),
            subject=verified.subject,
            claims=dict(verified.claims),
        )

    def get_middleware(self) -> list:
        # CORS first, so browser preflights never meet the bearer check. Any origin may read:
        # credentials travel in the Authorization header, never in cookies.
        cors = Middleware(
            CORSMiddleware,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            # Any request header: MCP keeps adding them (Mcp-Method, Mcp-Name, Mcp-Param-*).
            allow_headers=["*"],
            expose_headers=["WWW-Authenticate", "Mcp-Session-Id", "Mcp-Protocol-Version"],
        )
        return [cors, *super().get_middleware()]

    def get_routes(self, mcp_path: str | None = None) -> list[Route]:
        self.set_mcp_path(mcp_path)
        endpoint_path = _path_of(resource_url(self.provider.mcp_base_url, mcp_path))
        base_path = _path_of(self.provider.mcp_base_url)
        routes = [
            # RFC 9728 path-inserted URL of the MCP endpoint: what our challenges advertise.
            _route(f"/.well-known/oauth-protected-resource{endpoint_path}", self._endpoint_prm),
            # The root (or base-path) variant clients fall back to, describing the base URL.
            _route(f"/.well-known/oauth-protected-resource{base_path}", self._base_prm),
            # Appended variant that pre-RFC 9728 clients (and Cursor) request.
            _route(f"{endpoint_path}/.well-known/oauth-protected-resource", self._endpoint_prm),
        ]
        for name in ("oauth-authorization-server", "openid-configuration"):
            for path in (
                f"/.well-known/{name}",
                f"/.well-known/{name}{endpoint_path}",
                f"{endpoint_path}/.well-known/{name}",
            ):
                routes.append(_route(path, self._authorization_server_metadata))
        return list({route.path: route for route in routes}.values())

    async def _endpoint_prm(self, request: Request) -> Response:
        return await self._protected_resource_metadata(self._audiences[0])

    async def _base_prm(self, request: Request) -> Response:
        return await self._protected_resource_metadata(self.provider.mcp_base_url)

    async def _protected_resource_metadata(self, resource: str) -> Response:
        document: dict[str, Any] = {
            "resource": resource,
            "authorization_servers": [await self._issuer()],
            "bearer_methods_supported": ["header"],
        }
        if self.provider.scopes_supported:
            document["scopes_supported"] = list(self.provider.scopes_supported)
        if self.provider.mcp_server_name:
            document["resource_name"] = self.provider.mcp_server_name
        return JSONResponse(document, headers=_CACHE)

    async def _authorization_server_metadata(self, request: Request) -> Response:
        try:
            metadata = await self.provider.metadata()
        except DiscoveryError as exc:
            return JSONResponse(
                {"error": "temporarily_unavailable", "error_description": exc.message},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return JSONResponse(metadata.document, headers=_CACHE)

    async def _issuer(self) -> str:
        """The issuer exactly as the zone spells it, since clients compare it byte for byte."""
        try:
            return (await self.provider.metadata()).issuer
        except DiscoveryError:
            return self.provider.zone_url


def _route(path: str, handler) -> Route:
    # Browser preflights are answered by the CORS middleware before routing.
    return Route(path, handler, methods=["GET"])


def _path_of(url: str) -> str:
    """The URL's path without a trailing slash ('' for the root)."""
    return urlsplit(url).path.rstrip("/")


def _first_match(audience: tuple[str, ...], ours: tuple[str, ...]) -> str | None:
    return next((value for value in ours if value in audience), None)
