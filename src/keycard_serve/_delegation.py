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

from ._exchange import ExchangedToken, TokenExchanger
from ._exchange_cache import CacheKey, ExchangeCache, cache_key
from ._grant import Grant
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
        return await self._cache.get_or_exchange(
            key,
            lambda: self._exchanger.exchange(
                subject_token,
                grant.resource,
                grant.scopes,
                audience=grant.audience,
                target=grant.target,
            ),
            not_after=expires_at,
        )
