"""Exchanged tokens, reused until shortly before they expire; refusals, remembered briefly.

Entries are keyed by a hash of the caller's token (never the token itself), the resource,
the requested scopes and our client id, so two users can never share an entry. Concurrent
identical exchanges share one request; the cache is a bounded LRU. With a shared tier (Redis
or Valkey, ``SharedTokenCache``) a miss here asks the store before exchanging, and an exchange
is written through, so every worker and replica of a server exchanges a token once.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ._exchange import ExchangedToken
from ._metrics import record_cache_lookup
from ._shared_cache import SharedTokenCache
from ._singleflight import SingleFlight, own_copy
from .errors import TokenExchangeError

__all__ = ["CacheKey", "ExchangeCache", "cache_key"]

CacheKey = tuple[str, str, tuple[str, ...], str]


@dataclass(frozen=True)
class _Entry:
    valid_until: float  # epoch seconds
    token: ExchangedToken | None = None
    refusal: TokenExchangeError | None = None


def cache_key(
    subject_token: str,
    resource: str,
    scopes: Sequence[str],
    client_id: str | None,
    *,
    audience: str | None = None,
    target: str | None = None,
) -> CacheKey:
    """(sha256 of the caller's token, resource, sorted scopes, client id): one per exchange.

    A grant naming its API by ``audience`` or its own ``target`` gets them after the resource
    as a fragment, which a resource URI never has (RFC 8707 section 2), so two grants that
    differ only there never share a token.
    """
    digest = hashlib.sha256(subject_token.encode()).hexdigest()
    if audience is not None or target is not None:
        resource = f"{resource}#audience={audience or ''}&target={target or ''}"
    return (digest, resource, tuple(sorted(scopes)), client_id or "")


class ExchangeCache:
    """Bounded, expiring, single-flight store of exchange results.

    - A token is reused until ``min(skew, lifetime / 2)`` seconds before the earlier of its own
      expiry and the caller token's: a cached token always has at least half its lifetime, or
      ``skew`` seconds, left when a tool gets it, so a 30 s token is reused for 15 s instead of
      never, and a long-lived one keeps the full ``skew`` margin for clock drift and slow tools.
    - A refusal that trying again cannot change (``TokenExchangeError.retryable`` false:
      ``invalid_target``, ``invalid_scope``, ``invalid_client``...) is remembered for
      ``refusal_ttl`` seconds, never past the caller token's expiry, and raised again without
      a request. Retryable failures (timeouts, 5xx, network) are never remembered.
    - A token without a stated lifetime is not cached.
    - ``shared``, if given, is asked on a miss (inside the single flight, so concurrent
      callers ask once) and written through after an exchange, with the same validity; a
      token found there is kept here until the same instant. Refusals stay in this process.
      The store failing is a miss (``SharedTokenCache`` never raises for it).
    """

    def __init__(
        self,
        *,
        max_entries: int = 4096,
        skew: float = 30.0,
        refusal_ttl: float = 5.0,
        clock: Callable[[], float] = time.time,
        shared: SharedTokenCache[ExchangedToken] | None = None,
    ) -> None:
        """``skew`` and ``refusal_ttl`` in seconds; ``clock`` returns epoch seconds."""
        if max_entries < 1 or skew < 0 or refusal_ttl < 0:
            raise ValueError("max_entries must be >= 1, skew and refusal_ttl >= 0")
        self._max_entries = max_entries
        self._skew = skew
        self._refusal_ttl = refusal_ttl
        self._clock = clock
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._exchanging: SingleFlight[ExchangedToken] = SingleFlight()
        self._shared = shared

    def __len__(self) -> int:
        return len(self._entries)

    async def get_or_exchange(
        self,
        key: CacheKey,
        exchange: Callable[[], Awaitable[ExchangedToken]],
        *,
        not_after: float | None,
        looked_up: bool = False,
    ) -> ExchangedToken:
        """A cached token for ``key``, or the result of ``exchange()`` shared by all waiters.

        ``not_after`` is the caller token's own expiry (epoch seconds): nothing is reused past
        it, whatever the downstream token's lifetime. ``looked_up``: the caller has just
        called ``cached(key)``, so this second look is not counted as a lookup. Raises the
        ``TokenExchangeError`` of ``exchange()``, or of a remembered refusal (a new exception
        object each time).
        """
        token = self._cached(key, count=not looked_up)
        if token is not None:
            return token
        return await self._exchanging.run(key, lambda: self._run(key, exchange, not_after))

    def cached(self, key: CacheKey) -> ExchangedToken | None:
        """The token cached for ``key`` and still valid, or None; no request, no suspension.

        Raises the ``TokenExchangeError`` of a remembered refusal (a new object each time).
        Counted as one lookup of the ``memory`` tier (hit, miss, expired or refused).
        """
        return self._cached(key, count=True)

    def _cached(self, key: CacheKey, *, count: bool) -> ExchangedToken | None:
        entry = self._entries.get(key)
        if entry is None:
            if count:
                record_cache_lookup("memory", "miss")
            return None
        if self._clock() >= entry.valid_until:
            del self._entries[key]
            if count:
                record_cache_lookup("memory", "expired")
            return None
        self._entries.move_to_end(key)
        if entry.refusal is not None:
            if count:
                record_cache_lookup("memory", "refused")
            raise own_copy(entry.refusal)
        assert entry.token is not None
        if count:
            record_cache_lookup("memory", "hit")
        return entry.token

    async def _run(
        self,
        key: CacheKey,
        exchange: Callable[[], Awaitable[ExchangedToken]],
        not_after: float | None,
    ) -> ExchangedToken:
        if self._shared is not None:
            shared = await self._shared.get(key)
            if shared is None:
                record_cache_lookup("shared", "miss")  # also: the store did not answer
            else:
                valid_until = self._valid_until(shared, not_after)
                if valid_until is not None and valid_until > self._clock():
                    record_cache_lookup("shared", "hit")
                    self._store(key, _Entry(valid_until, token=shared))
                    return shared
                record_cache_lookup("shared", "expired")
        try:
            token = await exchange()
        except TokenExchangeError as exc:
            if not exc.retryable and self._refusal_ttl > 0:
                self._store(key, _Entry(self._until(self._refusal_ttl, not_after), refusal=exc))
            raise
        valid_until = self._valid_until(token, not_after)
        if valid_until is not None:
            self._store(key, _Entry(valid_until, token=token))
            if self._shared is not None:
                await self._shared.put(key, token, valid_until - self._clock())
        return token

    def _store(self, key: CacheKey, entry: _Entry) -> None:
        if entry.valid_until <= self._clock():
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _until(self, ttl: float, not_after: float | None) -> float:
        until = self._clock() + ttl
        return until if not_after is None else min(until, not_after)

    def _valid_until(self, token: ExchangedToken, not_after: float | None) -> float | None:
        if token.expires_at is None:
            return None  # no stated lifetime: do not guess, exchange again next time
        lifetime = token.expires_in or token.expires_at - self._clock()
        skew = min(self._skew, lifetime / 2)
        limit = token.expires_at if not_after is None else min(token.expires_at, not_after)
        return limit - skew
