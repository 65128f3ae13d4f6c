"""What every endpoint shares: the zone's settings, key and clients, and the one place tokens
are minted, so all grants produce the same RFC 9068 token shape and the same response."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

from ._clients import ClientRegistry
from ._expiring import ExpiringStore
from ._keys import SigningKey
from ._log import log
from ._loopback import is_https_or_loopback_url
from ._oauth import OAuthError, json_response

__all__ = [
    "CODE_TTL",
    "Authority",
    "AuthorizationRequest",
    "Grant",
    "ScopePolicy",
    "ZoneSettings",
]

# (client_id, resource, scopes) -> allowed? Decides what a token exchange may ask for.
ScopePolicy = Callable[[str, str, tuple[str, ...]], bool]

CODE_TTL = 60  # seconds; codes are redeemed by a machine right after the redirect
_CONSENT_TTL = 600  # a person may take a while to click Approve
_REFRESH_TTL = 30 * 24 * 3600


@dataclass(frozen=True)
class ZoneSettings:
    issuer: str
    user: str
    auto_approve: bool
    default_resource: str | None
    token_ttl: int
    denied_resources: frozenset[str]
    scopes: tuple[str, ...]
    scope_policy: ScopePolicy | None


@dataclass(frozen=True)
class Grant:
    """What a token asserts: which user, through which client, for which resource and scopes."""

    user: str
    client_id: str
    resource: str
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated /authorize request; the same record waits for consent and backs the code."""

    grant: Grant
    redirect_uri: str
    code_challenge: str
    state: str | None


class Authority:
    """The zone's state and token issuance, shared by all endpoints."""

    def __init__(self, settings: ZoneSettings, key: SigningKey, clients: ClientRegistry) -> None:
        self.settings = settings
        self.key = key
        self.clients = clients
        self.consents: ExpiringStore[AuthorizationRequest] = ExpiringStore(_CONSENT_TTL)
        self.codes: ExpiringStore[AuthorizationRequest] = ExpiringStore(CODE_TTL)
        self.refresh_tokens: ExpiringStore[Grant] = ExpiringStore(_REFRESH_TTL)

    def __repr__(self) -> str:
        return f"Authority(issuer={self.settings.issuer!r}, kid={self.key.kid!r})"

    def resolve_resource(self, values: Sequence[str], *, default: str | None) -> str:
        """The one RFC 8707 resource a request names (or ``default``), else ``invalid_target``."""
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
        if resource in self.settings.denied_resources:
            raise OAuthError("invalid_target", f"resource {resource!r} is denied by this zone")
        return resource

    def mint(
        self, grant: Grant, *, ttl: int | None = None, act: Mapping[str, Any] | None = None
    ) -> str:
        """An RFC 9068 access token for ``grant``; ``act`` marks a delegated (exchanged) one."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": grant.user,
            "aud": grant.resource,
            "iat": now,
            "nbf": now,
            "exp": now + (ttl or self.settings.token_ttl),
            "jti": secrets.token_urlsafe(16),
            "client_id": grant.client_id,
        }
        if grant.scopes:
            claims["scope"] = " ".join(grant.scopes)
        if act is not None:
            claims["act"] = dict(act)
        return self.key.sign(claims)

    def token_response(
        self,
        grant: Grant,
        *,
        grant_type: str,
        refresh: Grant | None = None,
        act: Mapping[str, Any] | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> JSONResponse:
        """The RFC 6749 §5.1 response; a new refresh token is bound to ``refresh`` if given."""
        body: dict[str, Any] = {
            "access_token": self.mint(grant, act=act),
            "token_type": "Bearer",
            "expires_in": self.settings.token_ttl,
            **(extra or {}),
        }
        if grant.scopes:
            body["scope"] = " ".join(grant.scopes)
        if refresh is not None:
            body["refresh_token"] = secrets.token_urlsafe(32)
            self.refresh_tokens.put(body["refresh_token"], refresh)
        log.info(
            "issued access token (%s): sub=%s aud=%s client=%s scope=%r",
            grant_type,
            grant.user,
            grant.resource,
            grant.client_id,
            " ".join(grant.scopes),
        )
        return json_response(body)
