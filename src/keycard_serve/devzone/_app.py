"""The zone's Starlette application: which endpoint lives where, the discovery document that
says so, and the guards in front of them.

The zone answers only requests addressed to a loopback host name. A page on any site can make
the developer's browser send requests to 127.0.0.1, and with DNS rebinding it can do so
same-origin under its own name. Such requests carry that name in ``Host``, so refusing every
non-loopback ``Host`` (421) closes the door (the MCP Inspector CVE-2025-49596 class of
attack): an auto-approving zone must not hand tokens to them.

The same goes for pages: a request whose ``Origin`` is not a loopback origin gets 403
(``_origin.OriginGuard``, the rule the MCP server applies too), so a page elsewhere cannot
drive the zone even under a loopback name.

CORS is on, for pages served from loopback (MCP Inspector), on the endpoints browser-based
clients fetch directly, and off for ``/authorize``, which a browser only ever navigates to:
letting other origins read the consent page would let them answer it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from .._origin import OriginGuard, OriginPolicy
from .._urls import is_loopback_host, origin_of
from ._authority import Authority
from ._authorize import AuthorizationEndpoint, index_page
from ._clients import AUTH_METHODS, GRANT_TYPES, RegistrationEndpoint
from ._keys import ALGORITHM
from ._oauth import BANNER, catch_oauth_errors
from ._token import TokenEndpoint

__all__ = ["build_app"]

# CORS origins the zone answers: pages served from loopback (MCP Inspector, local tools).
_LOOPBACK_ORIGIN = r"https?://(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?"

_Endpoint = Callable[[Request], Awaitable[Response]]


def build_app(authority: Authority) -> Starlette:
    """The zone's ASGI app: discovery at both well-known paths, ``/jwks``, ``/token``,
    ``/register``, ``/authorize`` and an index page, behind the loopback ``Host`` guard."""
    settings = authority.settings
    document = _discovery_document(settings.issuer, scopes=settings.scopes)
    authorization = AuthorizationEndpoint(authority)

    async def index(request: Request) -> Response:
        return index_page(issuer=settings.issuer, user=settings.user)

    routes = [
        Route("/", index, methods=["GET"]),
        _cors_route("/.well-known/oauth-authorization-server", _static_json(document), ["GET"]),
        _cors_route("/.well-known/openid-configuration", _static_json(document), ["GET"]),
        _cors_route("/jwks", _static_json(authority.key.jwks()), ["GET"]),
        _cors_route("/token", catch_oauth_errors(TokenEndpoint(authority)), ["POST"]),
        _cors_route(
            "/register", catch_oauth_errors(RegistrationEndpoint(authority.clients)), ["POST"]
        ),
        Route("/authorize", authorization.get, methods=["GET"]),
        Route("/authorize", authorization.post, methods=["POST"]),
    ]
    # The zone only listens on loopback: every loopback origin (and its own) may send requests.
    origins = OriginPolicy(frozenset({origin_of(settings.issuer)}), loopback=True)
    middleware = [
        Middleware(_LoopbackHostMiddleware),
        Middleware(OriginGuard, policy=lambda: origins),
    ]
    return Starlette(routes=routes, middleware=middleware)


def _discovery_document(issuer: str, *, scopes: Sequence[str]) -> dict[str, Any]:
    """The RFC 8414 section 2 metadata, also valid OpenID discovery; the zone serves it,
    identical, at both well-known paths."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "registration_endpoint": f"{issuer}/register",
        "jwks_uri": f"{issuer}/jwks",
        "scopes_supported": list(scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        # MCP clients refuse an authorization server that does not list S256 (TS SDK).
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        # MCP 2026-07-28 clients register by a client ID metadata document URL (_cimd).
        "client_id_metadata_document_supported": True,
        # Required members of OpenID discovery, so strict OIDC parsers accept the same document;
        # the zone issues access tokens only, never ID tokens.
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "keycard_serve_development_zone": BANNER,
    }


class _LoopbackHostMiddleware:
    """Answers 421 to any HTTP request whose ``Host`` is not a loopback name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _loopback_host(Headers(scope=scope).get("host")):
            response = PlainTextResponse(
                f"keycard-serve {BANNER}: only loopback host names are served", status_code=421
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _loopback_host(host: str | None) -> bool:
    try:
        hostname = urlsplit(f"//{host}").hostname if host else None
    except ValueError:
        return False
    return hostname is not None and is_loopback_host(hostname)


def _static_json(body: dict[str, Any]) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(body)

    return endpoint


def _cors_route(path: str, endpoint: _Endpoint, methods: Sequence[str]) -> Route:
    app = CORSMiddleware(
        request_response(endpoint),
        allow_origin_regex=_LOOPBACK_ORIGIN,
        allow_methods=[*methods, "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "MCP-Protocol-Version"],
        expose_headers=["WWW-Authenticate"],
        max_age=600,
    )
    return Route(path, app, methods=[*methods, "OPTIONS"])
