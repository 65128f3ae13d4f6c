"""Short-lived, single-use records: authorization codes, pending consents, refresh tokens."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ExpiringStore"]

T = TypeVar("T")


class ExpiringStore(Generic[T]):
    """Values under random keys that can be taken once, and only before they expire."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._items: dict[str, tuple[float, T]] = {}

    def __repr__(self) -> str:
        return f"ExpiringStore(ttl={self.ttl}, size={len(self._items)})"

    def put(self, key: str, value: T) -> None:
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
