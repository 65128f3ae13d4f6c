"""Exchanged tokens, reused until shortly before they expire.

Entries are keyed by a hash of the caller's token (never the token itself), the resource,
the requested scopes and our client id, so two users can never share an entry. Concurrent
identical exchanges share one request; the cache is a bounded LRU.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ._exchange import ExchangedToken
from ._singleflight import SingleFlight

__all__ = ["ExchangeCache", "cache_key"]


@dataclass(frozen=True)
class _Entry:
    token: ExchangedToken
    valid_until: float


def cache_key(
    subject_token: str, resource: str, scopes: Sequence[str], client_id: str | None
) -> tuple[str, str, tuple[str, ...], str]:
    digest = hashlib.sha256(subject_token.encode()).hexdigest()
    return (digest, resource, tuple(sorted(scopes)), client_id or "")


class ExchangeCache:
    """Bounded, expiring, single-flight store of exchanged tokens."""

    def __init__(
        self,
        *,
        max_entries: int = 4096,
        skew: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1 or skew < 0:
            raise ValueError("max_entries must be >= 1 and skew >= 0")
        self._max_entries = max_entries
        self._skew = skew
        self._clock = clock
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._exchanging: SingleFlight[ExchangedToken] = SingleFlight()

    def __len__(self) -> int:
        return len(self._entries)

    async def get_or_exchange(
        self,
        key: tuple,
        exchange: Callable[[], Awaitable[ExchangedToken]],
        *,
        not_after: float | None,
    ) -> ExchangedToken:
        """A cached token for ``key``, or the result of ``exchange()`` shared by all waiters.

        ``not_after`` is the caller token's own expiry: a delegated token is never reused past
        it, whatever the downstream token's lifetime.
        """
        entry = self._entries.get(key)
        if entry is not None:
            if self._clock() < entry.valid_until:
                self._entries.move_to_end(key)
                return entry.token
            del self._entries[key]
        return await self._exchanging.run(key, lambda: self._run(key, exchange, not_after))

    async def _run(
        self,
        key: tuple,
        exchange: Callable[[], Awaitable[ExchangedToken]],
        not_after: float | None,
    ) -> ExchangedToken:
        token = await exchange()
        valid_until = self._valid_until(token, not_after)
        if valid_until is not None:
            self._entries[key] = _Entry(token, valid_until)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return token

    def _valid_until(self, token: ExchangedToken, not_after: float | None) -> float | None:
        if token.expires_at is None:
            return None  # no stated lifetime: do not guess, exchange again next time
        limit = token.expires_at if not_after is None else min(token.expires_at, not_after)
        valid_until = limit - self._skew
        return valid_until if valid_until > self._clock() else None
