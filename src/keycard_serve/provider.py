"""``AuthProvider``: one Keycard zone, one MCP server, and the tools' delegated access.

Construction only checks arguments; discovery, key fetching and exchanges happen on first use
and share one pooled HTTP client, one JWKS cache and one exchanged-token cache (with, when
configured, a tier in Redis or Valkey shared by every process of the server).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import jwt

from ._delegation import Delegator
from ._discovery import AuthorizationServerMetadata, ZoneDiscovery
from ._exchange import ExchangedToken, TokenExchanger
from ._exchange_cache import ExchangeCache
from ._exchange_profile import ExchangeProfile
from ._fastmcp_auth import KeycardAuth, ProtectedResource
from ._grant import Grant, grant_decorator, normalize_grants
from ._http import ClientPool
from ._jwks import RemoteJWKSet
from ._scopes import ScopeHierarchy
from ._sealing import default_namespace, parse_encryption_key
from ._shared_cache import SharedTokenCache
from ._urls import check_origin, normalize_base_url, resolve_zone_url, same_issuer
from ._verifier import JWTVerifier, VerifiedToken
from .access_context import AccessContext
from .credentials import ApplicationCredential, ClientSecret
from .errors import ConfigurationError, DiscoveryError, JWKSError

__all__ = ["AuthProvider"]

F = TypeVar("F", bound=Callable[..., Any])


class AuthProvider:
    """Protect a FastMCP server with a Keycard zone and delegate access per tool.

    ``zone_id`` names a Keycard zone (``https://{zone_id}.keycard.cloud``); ``zone_url`` points
    at any RFC 8414 authorization server instead. ``mcp_base_url`` is the server's public URL;
    a trailing slash is added. Tokens are accepted when their audience is the MCP endpoint
    (``{mcp_base_url}mcp``) or the base URL itself, as the seed package configured it.

    For authorization servers that do not follow RFC 9068 and RFC 8693 to the letter (see
    README, "Using another authorization server"), each keyword accepts one named shape and
    nothing else: ``accepted_issuers`` (exact ``iss`` values besides the discovery issuer),
    ``accepted_audiences`` (exact ``aud`` values besides this server's URLs),
    ``tokens_without_audience`` (client ids whose access tokens may have no ``aud``),
    ``scope_claims`` (claims scopes are read from; ``scope`` and ``scp``, strings or arrays,
    by default), ``scope_prefix`` (put before token scopes that lack it: Entra) and
    ``exchange`` (an ``ExchangeProfile``: RFC 8693 by resource, by audience, or Entra's
    on-behalf-of). Their defaults keep the strict behaviour.

    ``cache_url`` (``redis://``, ``rediss://``, ``valkey://`` or ``valkeys://``) adds a tier of
    exchanged tokens shared by every worker and replica, sealed with AES-256-GCM under
    ``cache_encryption_keys`` (each 32 random bytes, raw or base64 as ``openssl rand -base64
    32`` prints them; the first seals, all open); ``cache_namespace`` separates servers sharing
    one store (default: from ``mcp_base_url``). These are the YAML ``cache:`` keys. The store
    is contacted on first use, and its failures are misses, never errors of a call. Raises
    ``ConfigurationError`` (code ``cache_config``) for a bad URL, key or namespace.

    ``allowed_origins`` are the exact browser origins (``https://app.example.com``) allowed to
    send requests besides the base URL's own; by default, loopback origins are allowed on
    connections that arrive over loopback (the MCP Inspector). Any other ``Origin`` gets 403.
    ``scope_hierarchy`` maps a scope to the narrower scopes it implies (transitively), e.g.
    ``{"tools:admin": ["tools:read", "tools:write"]}``: a token granted ``tools:admin`` passes
    where ``tools:read`` is required. ``ConfigurationError`` for an origin that is not
    ``scheme://host[:port]`` or a hierarchy with a cycle.
    """

    def __init__(
        self,
        *,
        zone_id: str | None = None,
        zone_url: str | None = None,
        mcp_server_name: str | None = None,
        mcp_base_url: str,
        application_credential: ApplicationCredential | None = None,
        required_scopes: Sequence[str] | None = None,
        scopes_supported: Sequence[str] | None = None,
        accepted_token_types: Sequence[str | None] = ("at+jwt",),
        leeway: float = 30.0,
        exchange_timeout: float = 10.0,
        accepted_issuers: Sequence[str] = (),
        accepted_audiences: Sequence[str] = (),
        tokens_without_audience: Sequence[str] = (),
        scope_claims: Sequence[str] = ("scope", "scp"),
        scope_prefix: str = "",
        exchange: ExchangeProfile | None = None,
        cache_url: str | None = None,
        cache_encryption_keys: Sequence[str | bytes] = (),
        cache_namespace: str | None = None,
        allowed_origins: Sequence[str] | None = None,
        scope_hierarchy: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.zone_url = resolve_zone_url(zone_id, zone_url)
        self.zone_id = zone_id
        self.mcp_base_url = normalize_base_url(mcp_base_url)
        self.mcp_server_name = mcp_server_name
        self.required_scopes = list(required_scopes or ())
        # Advertised in the protected-resource metadata; clients such as VS Code request all.
        self.scopes_supported = list(dict.fromkeys(scopes_supported or self.required_scopes))
        self.allowed_origins = _origins(allowed_origins)
        try:
            self.scope_hierarchy = ScopeHierarchy.of(scope_hierarchy)
        except ValueError as exc:
            raise ConfigurationError(str(exc), code="scope_hierarchy_cycle") from None
        if application_credential is not None and not isinstance(
            application_credential, ApplicationCredential
        ):
            raise ConfigurationError(
                "application_credential must be a ClientSecret, a PrivateKeyJWT, a "
                "WorkloadIdentity or None",
                code="credential_type",
            )
        if isinstance(application_credential, ClientSecret):
            keys = [self.zone_url] + ([zone_id] if zone_id else [])
            application_credential = application_credential.for_zone(*keys)
        self.application_credential = application_credential
        self._accepted_token_types = tuple(accepted_token_types)
        for name, values in (
            ("accepted_issuers", accepted_issuers),
            ("accepted_audiences", accepted_audiences),
            ("tokens_without_audience", tokens_without_audience),
        ):
            if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
                raise ConfigurationError(f"{name} must be a sequence of non-empty strings")
        self._accepted_issuers = tuple(accepted_issuers)
        self._accepted_audiences = tuple(accepted_audiences)
        self._tokens_without_audience = tuple(tokens_without_audience)
        self._scope_claims = tuple(scope_claims)
        self._scope_prefix = scope_prefix
        self._leeway = leeway
        self._pool = ClientPool()
        self._discovery = ZoneDiscovery(self.zone_url, self._pool.get)
        self._jwks: RemoteJWKSet | None = None
        self._verifiers: dict[tuple[tuple[str, ...], tuple[str, ...]], JWTVerifier] = {}
        profile = exchange or ExchangeProfile()
        self._shared_cache = _shared_cache(
            cache_url,
            cache_encryption_keys,
            cache_namespace or default_namespace(self.mcp_base_url),
            context=_delegation_context(self.zone_url, profile),
        )
        self._cache = ExchangeCache(shared=self._shared_cache)
        self._ready = False
        self._readying = asyncio.Lock()
        exchanger = TokenExchanger(
            self._discovery.metadata,
            application_credential,
            self._pool.get,
            deadline=exchange_timeout,
            profile=profile,
        )
        self._delegator = Delegator(exchanger, self._cache, leeway=leeway)
        self._remote_auth: KeycardAuth | None = None

    def grant(
        self,
        resources: str | Grant | Iterable[str | Grant],
        *,
        scopes: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    ) -> Callable[[F], F]:
        """Decorate a tool so each call gets delegated tokens for ``resources``.

        Use under ``@mcp.tool()``. The tool reads an ``AccessContext`` with
        ``ctx.get_state("keycardai")`` (``await`` it in async tools). Failed exchanges never
        raise here: they are recorded in the context for the tool to handle.
        """
        grants = normalize_grants(resources, scopes)
        return grant_decorator(lambda: (self.delegate, grants))

    async def delegate(
        self, subject_token: str | None, expires_at: float | None, grants: Sequence[Grant]
    ) -> AccessContext:
        """Exchange the caller's token for every grant (what a granted tool call does)."""
        return await self._delegator.access_for(subject_token, expires_at, grants)

    @property
    def protected_resource(self) -> ProtectedResource:
        """This server as a protected resource (RFC 9728): what the FastMCP adapter serves."""
        return ProtectedResource(
            base_url=self.mcp_base_url,
            zone_url=self.zone_url,
            name=self.mcp_server_name,
            scopes_supported=tuple(self.scopes_supported),
            required_scopes=tuple(self.required_scopes),
            allowed_origins=self.allowed_origins,
            scope_hierarchy=self.scope_hierarchy,
        )

    def get_remote_auth_provider(self) -> KeycardAuth:
        """The FastMCP auth provider for ``FastMCP(auth=...)``; the same object every time."""
        if self._remote_auth is None:
            self._remote_auth = KeycardAuth(self, self.protected_resource)
        return self._remote_auth

    async def metadata(self) -> AuthorizationServerMetadata:
        """The zone's validated authorization-server metadata (discovered on first use)."""
        return await self._discovery.metadata()

    async def verify(self, token: str, audiences: Sequence[str]) -> VerifiedToken:
        """Verify an inbound bearer token for ``audiences`` or ``accepted_audiences``, issued by
        the discovery issuer or one of ``accepted_issuers``.

        Raises ``TokenError`` when the token was checked and refused. Raises
        ``DiscoveryError`` (the zone's metadata) or ``JWKSError`` (its keys) when the token
        could not be checked: callers answer 503, never "invalid". A token bad on its face
        (size, form, headers, expiry, issuer, audience) is refused before either is fetched,
        so it gets ``TokenError`` even while the zone is down.
        """
        accepted = tuple(dict.fromkeys((*audiences, *self._accepted_audiences)))
        metadata = self._discovery.current()
        if metadata is None:
            # Nothing discovered yet (or it expired): screen before any network wait.
            self._verifier((self.zone_url,), accepted).screen(token, self._may_be_issuer)
            metadata = await self._discovery.metadata()
        issuers = tuple(dict.fromkeys((metadata.issuer, *self._accepted_issuers)))
        return await self._verifier(issuers, accepted).verify(token)

    def _may_be_issuer(self, issuer: str) -> bool:
        """Before discovery: an ``iss`` the discovery issuer could equal (RFC 8414 section
        3.3 makes it the zone URL) or one of ``accepted_issuers``."""
        return issuer in self._accepted_issuers or same_issuer(self.zone_url, issuer)

    def _verifier(self, issuers: tuple[str, ...], accepted: tuple[str, ...]) -> JWTVerifier:
        key = (issuers, accepted)
        verifier = self._verifiers.get(key)
        if verifier is None:
            verifier = JWTVerifier(
                issuer=issuers,
                audiences=accepted,
                key_resolver=self._signing_key,
                accepted_types=self._accepted_token_types,
                leeway=self._leeway,
                tokens_without_audience=self._tokens_without_audience,
                scope_claims=self._scope_claims,
                scope_prefix=self._scope_prefix,
            )
            # At most the screening verifier and the current one are kept.
            screening = ((self.zone_url,), accepted)
            self._verifiers = {k: v for k, v in self._verifiers.items() if k == screening}
            self._verifiers[key] = verifier
        return verifier

    def audiences(self, mcp_path: str | None) -> tuple[str, ...]:
        """The audiences this server accepts: the MCP endpoint URL, the base URL, then
        ``accepted_audiences``."""
        return (*self.protected_resource.audiences(mcp_path), *self._accepted_audiences)

    async def ready(self) -> str | None:
        """None once this provider can serve: the zone's metadata and signing keys loaded and,
        with a shared cache, the store answered a PING; else why not (one line, no secret).

        Loads what is missing (bounded by the discovery and JWKS timeouts). Once ready it stays
        ready: a zone or store outage later is each call's business (a store that is down is a
        miss), not a reason to take the server out of rotation.
        """
        async with self._readying:
            if self._ready:
                return None
            try:
                await (await self._key_set()).load()
            except (DiscoveryError, JWKSError) as exc:
                return exc.message
            if self._shared_cache is not None and not await self._shared_cache.ping():
                return f"the shared token cache ({self._shared_cache.where}) did not answer"
            self._ready = True
            return None

    async def aclose(self) -> None:
        """Close the pooled HTTP client of the running event loop and the shared cache's
        connections."""
        await self._pool.aclose()
        if self._shared_cache is not None:
            await self._shared_cache.aclose()

    async def _signing_key(self, header: Mapping[str, Any]) -> jwt.PyJWK:
        return await (await self._key_set()).get_signing_key(header)

    async def _key_set(self) -> RemoteJWKSet:
        """The zone's key set, at the ``jwks_uri`` its metadata names now."""
        metadata = await self._discovery.metadata()
        if self._jwks is None or self._jwks.url != metadata.jwks_uri:
            self._jwks = RemoteJWKSet(metadata.jwks_uri, self._pool.get)
        return self._jwks

    def __repr__(self) -> str:
        return (
            f"AuthProvider(zone_url={self.zone_url!r}, mcp_base_url={self.mcp_base_url!r}, "
            f"application_credential={self.application_credential!r})"
        )


def _delegation_context(zone_url: str, profile: ExchangeProfile) -> str:
    """What besides the cache key decides an exchanged token: the zone and the request shape.

    The client id, caller token, resource and scopes are in the cache key already.
    """
    fields = dataclasses.asdict(profile)
    return json.dumps([zone_url, fields], sort_keys=True, separators=(",", ":"), default=str)


def _shared_cache(
    url: str | None, keys: Sequence[str | bytes], namespace: str, *, context: str
) -> SharedTokenCache[ExchangedToken] | None:
    """The shared tier the ``cache_*`` keywords describe, or None without a URL."""
    if url is None:
        if keys:
            raise ConfigurationError(
                "cache_encryption_keys given without cache_url", code="cache_config"
            )
        return None
    try:
        parsed = [key if isinstance(key, bytes) else parse_encryption_key(key) for key in keys]
        return SharedTokenCache(
            url,
            encryption_keys=parsed,
            namespace=namespace,
            record_type=ExchangedToken,
            context=context,
        )
    except ValueError as exc:
        raise ConfigurationError(f"shared token cache: {exc}", code="cache_config") from None


def _origins(origins: Sequence[str] | None) -> tuple[str, ...] | None:
    """``allowed_origins`` canonical; ``ConfigurationError`` naming the first bad one."""
    if origins is None:
        return None
    if isinstance(origins, str):
        raise ConfigurationError(
            "allowed_origins must be a list of origins, not one string", code="invalid_origin"
        )
    checked = []
    for origin in origins:
        try:
            checked.append(check_origin(origin))
        except ValueError as exc:
            raise ConfigurationError(
                f"allowed_origins: {origin!r} {exc}", code="invalid_origin"
            ) from None
    return tuple(dict.fromkeys(checked))
