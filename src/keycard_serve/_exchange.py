"""RFC 8693 token exchange: the caller's token in, a delegated token for one resource out.

The request (``ExchangeProfile.form``: RFC 8693 by resource or audience, or Entra's
on-behalf-of) and the response rules are pure functions; ``TokenExchanger`` only sends, under
one overall deadline, retrying what RFC 6749 and common sense call transient (5xx, 429 with a
short Retry-After, network errors) and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._circuit import CircuitBreaker
from ._discovery import AuthorizationServerMetadata
from ._exchange_profile import ExchangeProfile, Target
from ._http import HTTPFailure, JSONResult, request_json
from ._protocol import ACCESS_TOKEN_TYPE
from .credentials import ApplicationCredential
from .errors import ConfigurationError, DiscoveryError, TokenExchangeError

__all__ = [
    "ExchangedToken",
    "TokenExchanger",
    "parse_exchange_response",
]

logger = logging.getLogger("keycard_serve._exchange")

_MAX_RESPONSE_BYTES = 64 * 1024
_MAX_EXPIRES_IN = 24 * 3600
_MAX_RETRY_AFTER = 5.0
_DEFAULT_PROFILE = ExchangeProfile()


@dataclass(frozen=True)
class ExchangedToken:
    """A delegated access token for one resource (RFC 8693 section 2.2.1 response).

    ``expires_in`` is in seconds, ``expires_at`` in epoch seconds. ``ExchangedToken(
    access_token=..., token_type=..., expires_in=...)`` works as 0.9.0's ``TokenResponse``
    did: ``resource`` is optional and its other fields (``refresh_token``, ``id_token``,
    ``subject_issuer``, ``raw``, ``headers``) are accepted, None by default.
    """

    access_token: str = field(repr=False)
    resource: str | None = None
    token_type: str = "Bearer"
    expires_in: int | None = None
    expires_at: float | None = None
    scope: tuple[str, ...] = ()
    issued_token_type: str | None = ACCESS_TOKEN_TYPE
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    subject_issuer: str | None = None
    raw: dict[str, Any] | None = field(default=None, repr=False)
    headers: dict[str, str] | None = field(default=None, repr=False)


class TokenExchanger:
    """Sends token-exchange requests to the zone's token endpoint.

    ``metadata`` returns the zone's validated metadata (discovery); ``client_factory`` the
    pooled ``httpx.AsyncClient``; ``deadline`` bounds each exchange, retries included, in
    seconds; ``clock`` (epoch seconds) stamps ``ExchangedToken.expires_at``; ``profile`` is
    the request the zone expects (RFC 8693 by ``resource`` by default). A credential whose
    ``assertion_audience`` is ``"issuer"`` signs its assertion for the issuer instead of the
    token endpoint (FAPI 2.0, the RFC 7523 update).
    """

    def __init__(
        self,
        metadata: Callable[[], Awaitable[AuthorizationServerMetadata]],
        credential: ApplicationCredential | None,
        client_factory: Callable[[], httpx.AsyncClient],
        *,
        deadline: float = 10.0,
        retries: int = 1,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.time,
        profile: ExchangeProfile = _DEFAULT_PROFILE,
    ) -> None:
        self._metadata = metadata
        self._profile = profile
        self._clock = clock
        self._breaker = breaker or CircuitBreaker()
        self._credential = credential
        self._client_factory = client_factory
        self._deadline = deadline
        self._retries = retries

    @property
    def client_id(self) -> str | None:
        """Our client id at the zone (part of the exchange cache key), or None."""
        return self._credential.client_id if self._credential else None

    async def exchange(
        self,
        subject_token: str,
        resource: str,
        scopes: Sequence[str] = (),
        *,
        audience: str | None = None,
        target: Target | None = None,
    ) -> ExchangedToken:
        """Exchange ``subject_token`` for a token whose audience is ``resource`` (RFC 8693).

        ``audience`` and ``target`` override how the request names the API (``ExchangeProfile``);
        ``resource`` stays the name of the result and of its errors.

        Raises ``TokenExchangeError`` (never a token or secret in it) whose ``code`` is:

        - the zone's OAuth error (``invalid_target``, ``invalid_scope``, ``invalid_grant``,
          ``invalid_client``, ``unauthorized_client``...; RFC 6749 section 5.2, RFC 8693
          section 2.2.2), also in ``error``; or ``http_error`` for an error status without one;
        - ``invalid_response``: a 200 that RFC 8693 section 2.2.1 does not allow (no
          ``access_token``, not ``Bearer``, not an access token, the caller's own token);
        - ``timeout``, ``network``: no answer within ``deadline`` or no connection
          (``retryable``); ``redirect``, ``too_large``: refused answers;
        - ``discovery_failed``: the zone's metadata is unavailable (``retryable``);
        - the credential's code (``credential_expired``, ``credential_unreadable``...): our
          own client authentication could not be made, nothing was sent (``retryable``);
        - ``zone_unavailable``: the circuit breaker is open, nothing was sent (``retryable``).

        5xx, 429 with a ``Retry-After`` up to 5 s, timeouts and network errors are retried
        ``retries`` times within the deadline; ``retryable`` says whether a later call may
        succeed.
        """
        wait = self._breaker.retry_in()
        if wait:
            raise TokenExchangeError(
                f"Token exchange for {resource} not attempted: the zone's token endpoint keeps "
                f"failing; next attempt in {wait:.0f} s",
                resource=resource,
                code="zone_unavailable",
                retryable=True,
            )
        try:
            token = await self._exchange(subject_token, resource, scopes, audience, target)
        except TokenExchangeError as exc:
            self._breaker.record(healthy=not exc.retryable)
            raise
        self._breaker.record(healthy=True)
        return token

    async def _exchange(
        self,
        subject_token: str,
        resource: str,
        scopes: Sequence[str],
        audience: str | None,
        target: Target | None,
    ) -> ExchangedToken:
        started = time.monotonic()
        try:
            metadata = await self._metadata()
        except DiscoveryError as exc:
            raise TokenExchangeError(
                f"Token exchange for {resource} impossible: {exc.message}",
                resource=resource,
                code="discovery_failed",
                retryable=True,
            ) from exc
        form = self._profile.form(subject_token, resource, scopes, audience=audience, target=target)
        attempt = 0
        while True:
            remaining = self._deadline - (time.monotonic() - started)
            if remaining <= 0:
                raise TokenExchangeError(
                    f"Token exchange for {resource} did not finish within {self._deadline:g} s",
                    resource=resource,
                    code="timeout",
                    retryable=True,
                )
            try:
                result = await self._send(metadata, dict(form), resource, remaining)
            except HTTPFailure as exc:
                if exc.reason in ("network", "timeout") and attempt < self._retries:
                    attempt += 1
                    await asyncio.sleep(_backoff(attempt))
                    continue
                raise TokenExchangeError(
                    f"Token exchange for {resource} failed: {exc}",
                    resource=resource,
                    code=exc.reason,
                    retryable=exc.reason in ("network", "timeout"),
                ) from None
            delay = _retry_delay(result, attempt, self._retries)
            if delay is not None and time.monotonic() - started + delay < self._deadline:
                attempt += 1
                await asyncio.sleep(delay)
                continue
            return parse_exchange_response(
                result,
                resource,
                form.get("scope", "").split(),
                subject_token,
                now=self._clock(),
                profile=self._profile,
            )

    async def _send(
        self,
        metadata: AuthorizationServerMetadata,
        form: dict[str, str],
        resource: str,
        deadline: float,
    ) -> JSONResult:
        headers = {"Accept": "application/json"}
        credential = self._credential
        if credential is not None:
            by_issuer = getattr(credential, "assertion_audience", None) == "issuer"
            audience = metadata.issuer if by_issuer else metadata.token_endpoint
            try:
                credential.authenticate(form, headers, audience=audience)
            except ConfigurationError as exc:
                raise TokenExchangeError(
                    f"Token exchange for {resource} not attempted: {exc.message}",
                    resource=resource,
                    code=exc.code or "credential_unavailable",
                    retryable=True,
                ) from None
        return await request_json(
            self._client_factory(),
            "POST",
            metadata.token_endpoint,
            max_bytes=_MAX_RESPONSE_BYTES,
            deadline=deadline,
            data=form,
            headers=headers,
        )


def parse_exchange_response(
    result: JSONResult,
    resource: str,
    scopes: Sequence[str],
    subject_token: str,
    *,
    now: float,
    profile: ExchangeProfile = _DEFAULT_PROFILE,
) -> ExchangedToken:
    """Apply RFC 8693 section 2.2 to a response; raise ``TokenExchangeError`` on any flaw.

    Pure: ``now`` (epoch seconds) is when the response arrived, for ``expires_at``;
    ``expires_in`` is clamped to 24 h, and a missing or non-positive one leaves both None.
    ``issued_token_type`` must be one ``profile`` accepts (an access token by default, so a
    refresh or ID token is never used as one).
    """
    body = result.body
    if result.status != 200:
        raise _error_response(result, resource, subject_token)
    if not isinstance(body, dict):
        raise _invalid(resource, "the token endpoint answered 200 without a JSON object")
    if "error" in body:
        raise _error_response(result, resource, subject_token)
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise _invalid(resource, "the response has no access_token")
    if access_token == subject_token:
        raise _invalid(resource, "the authorization server returned the caller's own token")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise _invalid(resource, f"token_type {token_type!r} is not Bearer")
    issued = body.get("issued_token_type")
    if not profile.accepts_issued(issued):
        raise _invalid(
            resource,
            f"issued_token_type {issued!r} is not an access token of a type the exchange "
            "settings accept (zone.exchange.issued_token_types)",
        )
    expires_in = _expires_in(body.get("expires_in"))
    granted = tuple(body["scope"].split()) if isinstance(body.get("scope"), str) else tuple(scopes)
    if not set(granted) <= set(scopes) and scopes:
        logger.warning(
            "token for %s carries scopes beyond those requested: %s",
            resource,
            " ".join(sorted(set(granted) - set(scopes))),
        )
    return ExchangedToken(
        access_token=access_token,
        resource=resource,
        token_type="Bearer",
        expires_in=expires_in,
        expires_at=now + expires_in if expires_in is not None else None,
        scope=granted,
        issued_token_type=issued,
    )


def _expires_in(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(min(value, _MAX_EXPIRES_IN))


def _retry_delay(result: JSONResult, attempt: int, retries: int) -> float | None:
    if attempt >= retries:
        return None
    if result.status in (500, 502, 503, 504):
        return _backoff(attempt + 1)
    if result.status == 429:
        retry_after = result.headers.get("retry-after", "")
        if retry_after.isdigit() and int(retry_after) <= _MAX_RETRY_AFTER:
            return float(retry_after)
    return None


def _backoff(attempt: int) -> float:
    return 0.1 * (2 ** (attempt - 1)) * (1 + random.random())  # noqa: S311 - jitter, not crypto


def _error_response(result: JSONResult, resource: str, subject_token: str) -> TokenExchangeError:
    body = result.body if isinstance(result.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), str) else None
    description = body.get("error_description")
    description = _scrub(description, subject_token) if isinstance(description, str) else None
    if error:
        detail = f"{error}" + (f" - {description}" if description else "")
    else:
        detail = f"HTTP {result.status}: " + _scrub(result.snippet(), subject_token)
    return TokenExchangeError(
        f"Token exchange failed for {resource}: {detail}",
        resource=resource,
        code=error or "http_error",
        error=error,
        description=description,
        status=result.status,
        retryable=result.status >= 500 or result.status == 429,
    )


def _invalid(resource: str, reason: str) -> TokenExchangeError:
    return TokenExchangeError(
        f"Token exchange for {resource} returned an unusable response: {reason}",
        resource=resource,
        code="invalid_response",
    )


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "[redacted]") if secret else text
