"""One running call per key, shared by every concurrent caller (Go's singleflight)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Concurrent ``run(key, fn)`` calls with the same key await one ``fn()``."""

    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Future[T]] = {}

    async def run(self, key: Hashable, fn: Callable[[], Awaitable[T]]) -> T:
        call = self._calls.get(key)
        # A future belongs to the loop that made it; tests and reloads may bring a new one.
        if call is None or call.get_loop() is not asyncio.get_running_loop():
            call = asyncio.ensure_future(fn())
            self._calls[key] = call
            call.add_done_callback(lambda done: self._forget(key, done))
        # shield: one caller giving up must not cancel the call the others wait on.
        return await asyncio.shield(call)

    def _forget(self, key: Hashable, done: asyncio.Future[T]) -> None:
        if self._calls.get(key) is done:
            del self._calls[key]
