"""Turn the caller's token into an ``AccessContext``: one exchange per granted resource.

Exchanges run concurrently; each resource succeeds or fails on its own, so one unreachable
API never costs a tool the tokens it did get.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from . import _tracing
from ._call_record import CACHED, EXCHANGED, current_call
from ._exchange import ExchangedToken, TokenExchanger
from ._exchange_cache import CacheKey, ExchangeCache, cache_key
from ._grant import Grant
from ._metrics import record_exchange
from ._tracing import (
    ATTR_CACHED,
    ATTR_ERROR_CODE,
    ATTR_HTTP_STATUS,
    ATTR_OUTCOME,
    ATTR_RESOURCE,
    SPAN_EXCHANGE,
)
from .access_context import AccessContext
from .errors import TokenExchangeError

__all__ = ["Delegator"]

logger = logging.getLogger("keycard_serve._delegation")


class Delegator:
    """Exchanges one caller token for many resources, through the cache."""

    def __init__(
        self,
        exchanger: TokenExchanger,
        cache: ExchangeCache,
        *,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``leeway``: seconds a caller token is still honoured after its ``exp``, the same
        allowance the verifier gives (RFC 7519 section 4.1.4), so a token accepted at the door
        is not then refused here. ``clock`` returns epoch seconds."""
        self._exchanger = exchanger
        self._cache = cache
        self._leeway = leeway
        self._clock = clock

    async def access_for(
        self, subject_token: str | None, expires_at: float | None, grants: Sequence[Grant]
    ) -> AccessContext:
        """Exchange ``subject_token`` for every grant, concurrently; never raises for a failed
        exchange.

        ``expires_at`` is the caller token's ``exp`` (epoch seconds) or None. Without a token
        the context has the global error ``no_token``; with one past ``exp`` + leeway,
        ``token_expired``; otherwise each resource has a token or an error dict
        (``TokenExchangeError.as_dict``; ``internal_error`` for an unexpected exception).
        """
        if not subject_token:
            return AccessContext.failed(
                "No authenticated caller token: the request did not pass through Keycard "
                "authentication (in-memory clients and stdio carry none)",
                code="no_token",
            )
        if expires_at is not None and expires_at + self._leeway <= self._clock():
            return AccessContext.failed("The caller's token has expired", code="token_expired")
        # Cached tokens first, without a task: gathering costs a trip through the event loop
        # (about 30 us), which a warm call need not pay. Only the misses are exchanged.
        keys = [self._key(subject_token, grant) for grant in grants]
        results: list[ExchangedToken | BaseException | None] = []
        for key in keys:
            try:
                results.append(self._cache.cached(key))
            except TokenExchangeError as exc:
                results.append(exc)
        missing = [index for index, result in enumerate(results) if result is None]
        if len(missing) < len(grants):
            _observe_cached(grants, results)
        if missing:
            exchanged = await asyncio.gather(
                *(self._one(subject_token, expires_at, grants[i], keys[i]) for i in missing),
                return_exceptions=True,
            )
            for index, result in zip(missing, exchanged, strict=True):
                results[index] = result
        tokens: dict[str, ExchangedToken] = {}
        errors: dict[str, dict[str, Any]] = {}
        for grant, result in zip(grants, results, strict=True):
            if isinstance(result, ExchangedToken):
                tokens[grant.resource] = result
            elif isinstance(result, TokenExchangeError):
                logger.warning(
                    "token exchange for %s failed: code=%s status=%s",
                    grant.resource,
                    result.code,
                    result.status,
                )
                errors[grant.resource] = result.as_dict()
            elif isinstance(result, Exception):
                logger.error(
                    "token exchange for %s raised %s",
                    grant.resource,
                    type(result).__name__,
                    exc_info=result,
                )
                unexpected = TokenExchangeError(
                    f"Token exchange for {grant.resource} failed unexpectedly",
                    resource=grant.resource,
                    code="internal_error",
                )
                errors[grant.resource] = unexpected.as_dict()
            else:  # BaseException (cancellation): not ours to swallow
                raise result
        return AccessContext(tokens, resource_errors=errors)

    def _key(self, subject_token: str, grant: Grant) -> CacheKey:
        return cache_key(
            subject_token,
            grant.resource,
            grant.scopes,
            self._exchanger.client_id,
            audience=grant.audience,
            target=grant.target,
        )

    async def _one(
        self, subject_token: str, expires_at: float | None, grant: Grant, key: CacheKey
    ) -> ExchangedToken:
        """A grant the cache did not have: exchanged (or shared with a concurrent identical
        call, or found in the shared tier), in a span; its outcome noted in the call's record
        and, for a request sent, counted and timed."""
        resource = grant.resource
        sent = False

        async def exchange() -> ExchangedToken:
            nonlocal sent
            sent = True
            started = time.perf_counter()
            try:
                token = await self._exchanger.exchange(
                    subject_token,
                    resource,
                    grant.scopes,
                    audience=grant.audience,
                    target=grant.target,
                )
            except TokenExchangeError as exc:
                record_exchange(resource, exc.code, time.perf_counter() - started)
                raise
            record_exchange(resource, "ok", time.perf_counter() - started)
            return token

        record = current_call.get()
        with _tracing.span(SPAN_EXCHANGE, SpanKind.CLIENT) as current:
            try:
                token = await self._cache.get_or_exchange(
                    key, exchange, not_after=expires_at, looked_up=True
                )
            except TokenExchangeError as exc:
                if record is not None:
                    record.note(resource, exc.code, ok=False)
                if current.is_recording():
                    current.set_attributes(_failed_attributes(resource, exc, cached=not sent))
                raise
            if record is not None:
                record.note(resource, EXCHANGED if sent else CACHED, ok=True)
            if current.is_recording():
                current.set_attributes(
                    {ATTR_RESOURCE: resource, ATTR_CACHED: not sent, ATTR_OUTCOME: "ok"}
                )
            return token


def _observe_cached(
    grants: Sequence[Grant], results: Sequence[ExchangedToken | BaseException | None]
) -> None:
    """Note the grants the in-process cache answered (a token or a remembered refusal) in
    the call's record, and give each a span when an SDK records spans (none costs nothing
    otherwise: this is the warm path)."""
    record = current_call.get()
    traced = _tracing.active()
    if record is None and not traced:
        return
    for grant, result in zip(grants, results, strict=True):
        if result is None:
            continue
        refused = result if isinstance(result, TokenExchangeError) else None
        if record is not None:
            record.note(grant.resource, refused.code if refused else CACHED, ok=not refused)
        if traced:
            attributes = (
                _failed_attributes(grant.resource, refused, cached=True)
                if refused
                else {ATTR_RESOURCE: grant.resource, ATTR_CACHED: True, ATTR_OUTCOME: "ok"}
            )
            span = _tracing.tracer.start_span(
                SPAN_EXCHANGE, kind=SpanKind.CLIENT, attributes=attributes
            )
            if refused:
                span.set_status(Status(StatusCode.ERROR, refused.message))
            span.end()


def _failed_attributes(
    resource: str, error: TokenExchangeError, *, cached: bool
) -> dict[str, str | bool | int]:
    attributes: dict[str, str | bool | int] = {
        ATTR_RESOURCE: resource,
        ATTR_CACHED: cached,
        ATTR_OUTCOME: error.code,
        ATTR_ERROR_CODE: error.code,
    }
    if error.status is not None:
        attributes[ATTR_HTTP_STATUS] = error.status
    return attributes
