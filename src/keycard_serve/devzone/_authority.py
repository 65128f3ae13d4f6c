"""What every endpoint shares: the zone's settings, key and clients, its short-lived stores,
and the one place tokens are minted, so all grants produce the same RFC 9068 token shape and
the same RFC 6749 section 5.1 response."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.responses import JSONResponse

from .._urls import canonical_url
from ._cimd import MetadataDocuments
from ._clients import ClientRegistry, RegisteredClient
from ._keys import SigningKey
from ._loopback import is_https_or_loopback_url
from ._oauth import OAuthError, json_response, log

__all__ = [
    "Access",
    "Authority",
    "AuthorizationRequest",
    "ExpiringStore",
    "Policy",
    "ScopePolicy",
    "ZoneSettings",
]

# (client_id, resource, scopes) -> allowed? Decides what a token exchange may ask for.
ScopePolicy = Callable[[str, str, tuple[str, ...]], bool]

_CODE_TTL = 60  # seconds; codes are redeemed by a machine right after the redirect
_CONSENT_TTL = 600  # seconds; a person may take a while to click Approve
_REFRESH_TTL = 30 * 24 * 3600  # seconds

T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    """How the zone answers. The launcher runs the defaults; tests turn them.

    ``token_ttl`` is the access token lifetime in seconds; ``denied_resources`` are RFC 8707
    resources refused with ``invalid_target``; ``scope_policy``, if set, may refuse the scopes
    a token exchange asks for (``invalid_scope``).
    """

    auto_approve: bool = True
    token_ttl: int = 3600
    denied_resources: frozenset[str] = frozenset()
    scope_policy: ScopePolicy | None = None


@dataclass(frozen=True)
class ZoneSettings:
    """The zone's identity: its issuer URL, the one user it signs in, the resource an
    ``/authorize`` or client credentials request without ``resource`` gets, and the scopes its
    metadata advertises."""

    issuer: str
    user: str
    default_resource: str | None
    scopes: tuple[str, ...]
    policy: Policy


@dataclass(frozen=True)
class Access:
    """What a token asserts: which user (``sub``), through which client (``client_id``), for
    which resource (``aud``, RFC 8707) and scopes (``scope``)."""

    user: str
    client_id: str
    resource: str
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated /authorize request; the same record waits for consent and backs the code."""

    access: Access
    redirect_uri: str
    code_challenge: str  # RFC 7636 S256: base64url(SHA-256(verifier)), unpadded
    state: str | None


class ExpiringStore(Generic[T]):
    """Values under random keys that can be taken once, and only before they expire.

    Holds authorization codes, pending consents and refresh tokens. ``ttl`` is in seconds of
    ``clock`` (monotonic by default).
    """

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._items: dict[str, tuple[float, T]] = {}

    def __repr__(self) -> str:
        return f"ExpiringStore(ttl={self.ttl}, size={len(self._items)})"

    def put(self, key: str, value: T) -> None:
        """Keep ``value`` under ``key`` for ``ttl`` seconds from now."""
        now = self._clock()
        # Sweep on write so abandoned entries cannot pile up in a long-running dev server.
        self._items = {k: item for k, item in self._items.items() if item[0] > now}
        self._items[key] = (now + self.ttl, value)

    def take(self, key: str) -> T | None:
        """Remove and return the value, or None if unknown, already taken or expired."""
        item = self._items.pop(key, None)
        if item is None or item[0] <= self._clock():
            return None
        return item[1]


class Authority:
    """The zone's state and token issuance, shared by all endpoints."""

    def __init__(
        self,
        settings: ZoneSettings,
        key: SigningKey,
        clients: ClientRegistry,
        documents: MetadataDocuments | None = None,
    ) -> None:
        self.settings = settings
        self.key = key
        self.clients = clients
        self.documents = documents or MetadataDocuments()
        self.consents: ExpiringStore[AuthorizationRequest] = ExpiringStore(_CONSENT_TTL)
        self.codes: ExpiringStore[AuthorizationRequest] = ExpiringStore(_CODE_TTL)
        self.refresh_tokens: ExpiringStore[Access] = ExpiringStore(_REFRESH_TTL)

    def __repr__(self) -> str:
        return f"Authority(issuer={self.settings.issuer!r}, kid={self.key.kid!r})"

    async def client(self, client_id: str) -> RegisteredClient | None:
        """The client ``client_id`` names: a registered one, or, for a URL, the client its
        metadata document describes (``OAuthError`` ``invalid_client`` if it cannot be used);
        None for an unknown id."""
        if MetadataDocuments.is_document_url(client_id):
            return await self.documents.client(client_id)
        return self.clients.get(client_id)

    def resolve_resource(self, values: Sequence[str], *, default: str | None) -> str:
        """The one RFC 8707 resource a request names (or ``default``).

        Raises ``OAuthError`` ``invalid_target`` (RFC 8707 section 2) for none, several, one
        that is not https (http only on loopback) or has a fragment, or a denied one.
        """
        if len(values) > 1:
            raise OAuthError(
                "invalid_target", "this zone issues a token for one resource at a time"
            )
        resource = values[0] if values else default
        if resource is None:
            raise OAuthError("invalid_target", "a resource parameter is required")
        if not is_https_or_loopback_url(resource):
            raise OAuthError(
                "invalid_target",
                f"resource {resource!r} must be an absolute https URI (http only on loopback) "
                "without a fragment",
            )
        # One spelling (RFC 3986 section 6.2.2): ":443" or upper case neither slips past a
        # denied resource nor mints an aud the resource server would not recognise.
        resource = canonical_url(resource)
        if resource in {canonical_url(d) for d in self.settings.policy.denied_resources}:
            raise OAuthError("invalid_target", f"resource {resource!r} is denied by this zone")
        return resource

    def mint(
        self, access: Access, *, ttl: int | None = None, act: Mapping[str, Any] | None = None
    ) -> str:
        """An RFC 9068 access token for ``access``, valid ``ttl`` seconds (default: the
        policy's ``token_ttl``); ``act`` (RFC 8693 section 4.1) marks an exchanged one."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": access.user,
            "aud": access.resource,
            "iat": now,
            "nbf": now,
            "exp": now + (ttl or self.settings.policy.token_ttl),
            "jti": secrets.token_urlsafe(16),
            "client_id": access.client_id,
        }
        if access.scopes:
            claims["scope"] = " ".join(access.scopes)
        if act is not None:
            claims["act"] = dict(act)
        return self.key.sign(claims)

    def token_response(
        self,
        access: Access,
        *,
        grant_type: str,
        refresh: Access | None = None,
        act: Mapping[str, Any] | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> JSONResponse:
        """The RFC 6749 section 5.1 response for ``access``; with ``refresh``, a new refresh
        token bound to it. ``extra`` adds members (RFC 8693's ``issued_token_type``)."""
        body: dict[str, Any] = {
            "access_token": self.mint(access, act=act),
            "token_type": "Bearer",
            "expires_in": self.settings.policy.token_ttl,
            **(extra or {}),
        }
        if access.scopes:
            body["scope"] = " ".join(access.scopes)
        if refresh is not None:
            body["refresh_token"] = secrets.token_urlsafe(32)
            self.refresh_tokens.put(body["refresh_token"], refresh)
        log.info(
            "issued access token (%s): sub=%s aud=%s client=%s scope=%r",
            grant_type,
            access.user,
            access.resource,
            access.client_id,
            " ".join(access.scopes),
        )
        return json_response(body)
