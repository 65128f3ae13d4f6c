"""The FastMCP side: bearer verification, RFC 9728 metadata, and every discovery URL.

``KeycardAuth`` is a thin adapter, as Starlette's ``AuthenticationMiddleware`` is over an
``AuthenticationBackend``: it knows nothing of zones, keys or exchanges. It needs a
``TokenBackend`` (verify a token for audiences, give the authorization-server metadata) and a
frozen ``ProtectedResource`` (what the server is called, where it lives, which scopes it asks
for). ``keycard_serve.AuthProvider`` is the usual backend and builds the adapter; a reload
hands the adapter a new pair with ``rebind`` instead of editing anything in place.

FastMCP's own middleware produces the challenges (401 without ``error`` when no token was
sent, 401 ``invalid_token`` for a bad one, 403 ``insufficient_scope`` for missing scopes, each
with an absolute ``resource_metadata``); this adapter supplies what they point to, on every
path real clients probe, with CORS so browser clients can read it. In front of every route,
the ``Origin`` rule of the MCP transport (``_origin.OriginGuard``) refuses pages of other
origins with 403; CORS answers name the allowed origin, never ``*``. A token's scopes are read
through the resource's scope hierarchy (``_scopes``): a broader scope counts as the narrower
ones it implies in every check.

Two guarantees hold end to end, which FastMCP's own bearer middleware would break:
"could not check" is never "invalid" (the zone or its keys unavailable gives 503 with
``Retry-After``, never 401 ``invalid_token``), and expiry is judged once, by the verifier with
its leeway (the MCP SDK's backend compares ``expires_at`` with the clock a second time).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, partial
from typing import Any, Protocol, overload

from fastmcp.server.auth import AccessToken, TokenVerificationError
from fastmcp.server.auth import AuthProvider as FastMCPAuthProvider
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from pydantic import AnyHttpUrl
from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._discovery import AuthorizationServerMetadata
from ._metrics import record_bearer_refused, record_bearer_unchecked
from ._origin import OriginGuard, OriginPolicy
from ._scopes import ScopeHierarchy
from ._tracing import ATTR_ERROR_CODE, ATTR_OUTCOME, SPAN_VERIFY, span
from ._urls import endpoint_path, path_of, resource_url, well_known_url
from ._verifier import VerifiedToken, matching_audience
from .errors import DiscoveryError, JWKSError, TokenError

__all__ = ["REFUSAL_STATE_KEY", "KeycardAuth", "ProtectedResource", "TokenBackend"]

logger = logging.getLogger("keycard_serve.auth")

_CACHE = {"Cache-Control": "max-age=300"}
_WARM_UP_SECONDS = 5.0  # at most this long added to start-up when the zone does not answer
# What FastMCP imports on the first use of session state (FastMCP._state_store), ~0.2 s.
_LAZY_FASTMCP_MODULES = ("key_value.aio.adapters.pydantic", "key_value.aio.stores.memory")
_RETRY_AFTER = "5"  # seconds; what a 503 asks clients to wait before trying again
# Where a refused bearer token's reason code is left for inner middleware (``scope["state"]``).
REFUSAL_STATE_KEY = "keycard_serve.token_refused"


class TokenBackend(Protocol):
    """What the adapter asks of whoever knows the zone (``keycard_serve.AuthProvider``)."""

    async def verify(self, token: str, audiences: Sequence[str]) -> VerifiedToken:
        """Verify a bearer token issued for one of ``audiences``.

        Raises ``TokenError`` for a token that was checked and refused, ``DiscoveryError`` or
        ``JWKSError`` when it could not be checked (the zone or its keys unavailable).
        """
        ...

    async def metadata(self) -> AuthorizationServerMetadata:
        """The zone's RFC 8414 metadata; ``DiscoveryError`` while it cannot be had."""
        ...

    @property
    def protected_resource(self) -> ProtectedResource:
        """This server as a protected resource: what ``KeycardAuth.rebind`` serves when it is
        given no resource description of its own."""
        ...

    # Optional: ``async def ready(self) -> str | None``, awaited while the server starts so
    # the first call finds the zone's metadata and keys loaded; a reason it gives is logged.


@dataclass(frozen=True)
class ProtectedResource:
    """The protected resource (RFC 9728) as the adapter publishes it.

    ``base_url`` is canonical (``keycard_serve._urls.normalize_base_url``: lower-case scheme
    and host, default port dropped, trailing slash); ``zone_url`` is the issuer to advertise
    while the zone's own metadata cannot be fetched. ``required_scopes`` every caller needs;
    ``scopes_supported`` is advertised in the metadata (RFC 9728 section 2).
    ``allowed_origins`` are the exact browser origins allowed besides ``base_url``'s own; None
    allows loopback origins on loopback connections instead (``OriginPolicy.of``).
    ``scope_hierarchy`` says which granted scopes imply which others.
    """

    base_url: str
    zone_url: str
    name: str | None = None
    scopes_supported: tuple[str, ...] = ()
    required_scopes: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] | None = None
    scope_hierarchy: ScopeHierarchy = field(default_factory=ScopeHierarchy)

    @cached_property
    def origin_policy(self) -> OriginPolicy:
        """Which ``Origin`` values may send requests (the MCP transport's DNS-rebinding rule)."""
        return OriginPolicy.of(self.base_url, self.allowed_origins)

    def endpoint_url(self, mcp_path: str | None) -> str:
        """The MCP endpoint's canonical URL: what clients request tokens for (RFC 8707).

        ``mcp_path`` is where the app mounts the endpoint. Behind a proxy that forwards paths
        unchanged that is its public path, so one under ``base_url``'s path names the URL
        itself: base ``https://h/tenant/`` and ``/tenant/mcp`` give ``https://h/tenant/mcp``.
        Any other path is taken as below the base URL (``/mcp`` gives the same URL).
        """
        return _endpoint_url(self.base_url, mcp_path)

    def audiences(self, mcp_path: str | None) -> tuple[str, ...]:
        """Accepted token audiences: the MCP endpoint URL, then the base URL (0.9.0's)."""
        return tuple(dict.fromkeys((self.endpoint_url(mcp_path), self.base_url)))


@lru_cache(maxsize=64)
def _endpoint_url(base_url: str, mcp_path: str | None) -> str:
    """``ProtectedResource.endpoint_url``, remembered: read on every call, and both arguments
    come from the configuration, never from a request."""
    path, prefix = endpoint_path(mcp_path), path_of(base_url)
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :]
    return resource_url(base_url, path)


@dataclass(frozen=True)
class _Binding:
    backend: TokenBackend
    resource: ProtectedResource


class _RequiredScopes(Sequence[str]):
    """The current binding's required scopes, read at every use.

    FastMCP hands ``required_scopes`` (and the challenge scopes) to its challenge middleware
    once, when the HTTP app is built; this live view lets a rebind reach it without mutating
    a list that concurrent requests are reading.
    """

    def __init__(self, auth: KeycardAuth) -> None:
        self._auth = auth

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._auth.resource.required_scopes[index]

    def __len__(self) -> int:
        return len(self._auth.resource.required_scopes)

    def __iter__(self) -> Iterator[str]:
        return iter(self._auth.resource.required_scopes)

    def __repr__(self) -> str:
        return repr(list(self))


class KeycardAuth(FastMCPAuthProvider):
    """A FastMCP ``AuthProvider`` for ``FastMCP(auth=...)``, serving ``backend`` and ``resource``.

    ``required_scopes`` is a read-only live view of the bound resource's required scopes.
    """

    def __init__(self, backend: TokenBackend, resource: ProtectedResource) -> None:
        super().__init__(base_url=resource.base_url)
        self._binding = _Binding(backend, resource)
        self.required_scopes = _RequiredScopes(self)  # type: ignore[assignment]
        self._outage = False  # the last token could not be checked (logged once per outage)

    @property
    def backend(self) -> TokenBackend:
        """The backend serving requests now."""
        return self._binding.backend

    @property
    def resource(self) -> ProtectedResource:
        """The resource description served now."""
        return self._binding.resource

    @property
    def scopes_supported(self) -> list[str]:
        return list(self.resource.scopes_supported)

    def rebind(self, backend: TokenBackend, resource: ProtectedResource | None = None) -> None:
        """Serve ``backend`` and ``resource`` from the next request on (a config reload).

        Both are replaced together; a request already running keeps the pair it started with.
        ``resource`` defaults to ``backend.protected_resource``. ``ValueError`` if the base URL
        changes: the routes and challenges built from it are fixed for the life of the app.
        """
        if resource is None:
            resource = backend.protected_resource
        if resource.base_url != self.resource.base_url:
            raise ValueError("the base URL cannot change without a restart")
        self._binding = _Binding(backend, resource)

    def _get_resource_url(self, path: str | None = None) -> AnyHttpUrl | None:
        # FastMCP derives the challenge's resource_metadata URL from this: make it canonical.
        return AnyHttpUrl(self.resource.endpoint_url(path))

    @property
    def resource_metadata_url(self) -> str:
        """The absolute URL every challenge advertises (RFC 9728 section 3.1 path insertion)."""
        endpoint = self.resource.endpoint_url(self._mcp_path)
        return well_known_url(endpoint, "oauth-protected-resource")

    def insufficient_scope_challenge(self, tool_scopes: Sequence[str]) -> str:
        """The 403 ``WWW-Authenticate`` for a tool needing ``tool_scopes`` (MCP step-up)."""
        scopes = " ".join(dict.fromkeys([*self.resource.required_scopes, *tool_scopes]))
        return (
            f'Bearer error="insufficient_scope", scope="{scopes}", '
            f'resource_metadata="{self.resource_metadata_url}"'
        )

    async def warm_up(self) -> None:
        """Do what the first call would otherwise pay, before the server reports ready.

        Imports the session-state store FastMCP loads on first use (a granted call stores
        its ``AccessContext`` there) and awaits the backend's ``ready`` (zone discovery,
        signing keys, the shared cache's connection) for at most 5 seconds. Never raises: a
        zone unreachable now is logged, and calls try again.
        """
        for module in _LAZY_FASTMCP_MODULES:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
        ready = getattr(self.backend, "ready", None)
        if ready is None:
            return
        try:
            reason = await asyncio.wait_for(ready(), _WARM_UP_SECONDS)
            if reason is not None:
                logger.warning("zone not reachable at start (%s); calls will retry", reason)
        except TimeoutError:
            logger.warning(
                "zone not reachable within %gs at start; calls will retry", _WARM_UP_SECONDS
            )
        except Exception:  # start-up must not fail for what a call can retry
            logger.exception("warming up for the zone failed; calls will retry")

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's grant, None for a refused token; ``TokenVerificationError`` if unchecked."""
        access, _reason = await self._check_token(token)
        return access

    async def _check_token(self, token: str) -> tuple[AccessToken | None, str | None]:
        """``(grant, None)``, or ``(None, reason code)`` for a refused token (``TokenError``
        codes); ``TokenVerificationError`` when it could not be checked. In a span, counted."""
        binding = self._binding
        audiences = binding.resource.audiences(self._mcp_path)
        with span(SPAN_VERIFY) as current:
            try:
                verified = await binding.backend.verify(token, audiences)
            except TokenError as exc:
                logger.info("bearer token rejected: %s", exc.code)
                record_bearer_refused(exc.code)
                if current.is_recording():
                    current.set_attributes({ATTR_OUTCOME: "refused", ATTR_ERROR_CODE: exc.code})
                return None, exc.code
            except (DiscoveryError, JWKSError) as exc:
                # Logged at error level once per outage, not on every request during it.
                log = logger.debug if self._outage else logger.error
                self._outage = True
                log("cannot verify tokens now (%s): %s", exc.code, exc.message)
                record_bearer_unchecked(exc.code)
                if current.is_recording():
                    current.set_attributes({ATTR_OUTCOME: "unchecked", ATTR_ERROR_CODE: exc.code})
                raise TokenVerificationError(f"token not checked: {exc.code}") from exc
            if current.is_recording():
                current.set_attribute(ATTR_OUTCOME, "ok")
        if self._outage:
            self._outage = False
            logger.warning("tokens can be verified again: the zone answers")
        access = AccessToken(
            token=token,
            client_id=verified.client_id or verified.subject,
            # Every check (FastMCP's, the scope guard's, the listing) sees implied scopes too.
            scopes=list(binding.resource.scope_hierarchy.expand(verified.scopes)),
            expires_at=verified.expires_at,
            resource=matching_audience(verified.audience, audiences),
            subject=verified.subject,
            claims=dict(verified.claims),
        )
        return access, None

    def get_middleware(self) -> list:
        # The Origin rule first, on every route; then CORS, so browser preflights never meet
        # the bearer check. Every origin reaching CORS passed the rule, so CORS echoes it
        # (with Vary: Origin) instead of answering "*".
        cors = partial(
            CORSMiddleware,
            allow_origin_regex=".*",
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            # Any request header: MCP keeps adding them (Mcp-Method, Mcp-Name, Mcp-Param-*).
            allow_headers=["*"],
            # Retry-After: what a browser client needs to back off after a 503.
            expose_headers=[
                "WWW-Authenticate",
                "Mcp-Session-Id",
                "Mcp-Protocol-Version",
                "Retry-After",
            ],
        )
        return [
            Middleware(OriginGuard, policy=lambda: self.resource.origin_policy, cors=cors),
            Middleware(_BearerAuthentication, auth=self),
            Middleware(AuthContextMiddleware),
        ]

    def get_routes(self, mcp_path: str | None = None) -> list[Route]:
        self.set_mcp_path(mcp_path)
        endpoint_path = path_of(self.resource.endpoint_url(mcp_path))
        base_path = path_of(self.resource.base_url)
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
        binding = self._binding
        resource = binding.resource.endpoint_url(self._mcp_path)
        return await _protected_resource_metadata(binding, resource)

    async def _base_prm(self, request: Request) -> Response:
        binding = self._binding
        return await _protected_resource_metadata(binding, binding.resource.base_url)

    async def _authorization_server_metadata(self, request: Request) -> Response:
        try:
            metadata = await self.backend.metadata()
        except DiscoveryError as exc:
            return JSONResponse(
                {"error": "temporarily_unavailable", "error_description": exc.message},
                status_code=503,
                headers={"Retry-After": _RETRY_AFTER},
            )
        return JSONResponse(metadata.document, headers=_CACHE)


async def _protected_resource_metadata(binding: _Binding, resource: str) -> Response:
    """The RFC 9728 section 2 document describing ``resource``."""
    described = binding.resource
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": [await _issuer(binding)],
        "bearer_methods_supported": ["header"],
    }
    if described.scopes_supported:
        document["scopes_supported"] = list(described.scopes_supported)
    if described.name:
        document["resource_name"] = described.name
    return JSONResponse(document, headers=_CACHE)


async def _issuer(binding: _Binding) -> str:
    """The issuer exactly as the zone spells it, since clients compare it byte for byte."""
    try:
        return (await binding.backend.metadata()).issuer
    except DiscoveryError:
        return binding.resource.zone_url


class _BearerAuthentication:
    """ASGI middleware setting ``scope["user"]`` and ``scope["auth"]`` from the bearer token.

    Starlette's ``AuthenticationMiddleware`` with the MCP SDK's ``BearerAuthBackend``, minus two
    faults: the token's expiry is not compared with the clock again (the verifier did, with
    leeway), and when ``verify_token`` raises ``TokenVerificationError`` the request goes on
    unauthenticated but the 401 that FastMCP's challenge would send becomes 503
    ``temporarily_unavailable`` with ``Retry-After``: the client keeps its token and retries
    instead of signing in again. Routes that need no token (metadata) answer as usual.
    """

    def __init__(self, app: ASGIApp, *, auth: KeycardAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _warm_before_ready(send, self.auth))
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = _bearer_token(scope)
        access, unchecked = None, False
        if token is not None:
            try:
                access, refused = await self.auth._check_token(token)
            except TokenVerificationError:
                unchecked = True
            else:
                if refused is not None:
                    scope.setdefault("state", {})[REFUSAL_STATE_KEY] = refused
        if access is None:
            scope["user"], scope["auth"] = UnauthenticatedUser(), AuthCredentials()
        else:
            scope["user"], scope["auth"] = AuthenticatedUser(access), AuthCredentials(access.scopes)
        await self.app(scope, receive, _unavailable_for_401(send) if unchecked else send)


def _bearer_token(scope: Scope) -> str | None:
    """The RFC 6750 section 2.1 credentials, or None for no (or another) scheme."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].decode("latin-1")
    return None


def _warm_before_ready(send: Send, auth: KeycardAuth) -> Send:
    """``send`` of the ASGI lifespan, warming ``auth`` up before startup is reported."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            await auth.warm_up()
        await send(message)

    return wrapped


def _unavailable_for_401(send: Send) -> Send:
    """``send`` with a 401 response replaced by 503 ``temporarily_unavailable``."""
    replaced = False

    async def wrapped(message: Message) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start" and message["status"] == 401:
            replaced = True
            body = json.dumps(
                {
                    "error": "temporarily_unavailable",
                    "error_description": "the token could not be checked now; retry later",
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", _RETRY_AFTER.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        elif not replaced:  # the 401's own body is dropped
            await send(message)

    return wrapped


def _route(path: str, handler) -> Route:
    # Browser preflights are answered by the CORS middleware before routing.
    return Route(path, handler, methods=["GET"])
