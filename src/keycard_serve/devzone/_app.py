"""The zone's Starlette application: which endpoint lives where, and which allow CORS.

CORS is on, for pages served from loopback (MCP Inspector), on the endpoints browser-based
clients fetch directly, and off for ``/authorize``, which a browser only ever navigates to:
letting other origins read the consent page would let them answer it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response

from ._authority import Authority
from ._authorize import AuthorizationEndpoint
from ._guard import LOOPBACK_ORIGIN, LoopbackHostMiddleware
from ._metadata import discovery_document
from ._oauth import catch_oauth_errors
from ._pages import index_page
from ._register import RegistrationEndpoint
from ._token import TokenEndpoint

__all__ = ["build_app"]

_Endpoint = Callable[[Request], Awaitable[Response]]


def build_app(authority: Authority) -> Starlette:
    settings = authority.settings
    document = discovery_document(settings.issuer, scopes=settings.scopes)
    authorization = AuthorizationEndpoint(authority)

    async def index(request: Request) -> Response:
        return index_page(issuer=settings.issuer, user=settings.user)

    routes = [
        Route("/", index, methods=["GET"]),
        _cors_route("/.well-known/oauth-authorization-server", _static_json(document), ["GET"]),
        _cors_route("/.well-known/openid-configuration", _static_json(document), ["GET"]),
        _cors_route("/jwks", _static_json(authority.key.jwks()), ["GET"]),
        _cors_route("/token", catch_oauth_errors(TokenEndpoint(authority)), ["POST"]),
        _cors_route("/register", catch_oauth_errors(RegistrationEndpoint(authority)), ["POST"]),
        Route("/authorize", authorization.get, methods=["GET"]),
        Route("/authorize", authorization.post, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(LoopbackHostMiddleware)])


def _static_json(body: dict[str, Any]) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(body)

    return endpoint


def _cors_route(path: str, endpoint: _Endpoint, methods: Sequence[str]) -> Route:
    app = CORSMiddleware(
        request_response(endpoint),
        allow_origin_regex=LOOPBACK_ORIGIN,
        allow_methods=[*methods, "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "MCP-Protocol-Version"],
        expose_headers=["WWW-Authenticate"],
        max_age=600,
    )
    return Route(path, app, methods=[*methods, "OPTIONS"])
