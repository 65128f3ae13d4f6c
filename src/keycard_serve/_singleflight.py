"""One running call per key, shared by every concurrent caller (Go's singleflight).

Used by discovery, the JWKS cache and the exchange cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight", "own_copy"]

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


class SingleFlight(Generic[T]):
    """Concurrent ``run(key, fn)`` calls with the same key await one ``fn()``.

    Every waiter gets the result, or its own copy of the exception ``fn()`` raised (same
    type, arguments and attributes, ``__cause__`` the shared original): one exception object
    re-raised in many tasks would pile every waiter's traceback onto it.
    """

    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Future[T]] = {}

    async def run(self, key: Hashable, fn: Callable[[], Awaitable[T]]) -> T:
        """``fn()``'s result, from the call in flight for ``key`` or from a new one."""
        call = self._calls.get(key)
        # A future belongs to the loop that made it; tests and reloads may bring a new one.
        if call is None or call.get_loop() is not asyncio.get_running_loop():
            call = asyncio.ensure_future(fn())
            self._calls[key] = call
            call.add_done_callback(lambda done: self._forget(key, done))
        try:
            # shield: one caller giving up must not cancel the call the others wait on.
            return await asyncio.shield(call)
        except Exception as exc:
            if not call.done() or call.cancelled() or call.exception() is not exc:
                raise  # not fn()'s failure (this waiter was interrupted): nothing to copy
            raise own_copy(exc) from exc

    def _forget(self, key: Hashable, done: asyncio.Future[T]) -> None:
        if self._calls.get(key) is done:
            del self._calls[key]
        if not done.cancelled():
            done.exception()  # retrieved: a failure nobody waited for any more is not an error


def own_copy(exc: E) -> E:
    """A new exception object equal to ``exc`` (its ``__init__`` is not run again), for
    raising one failure in many tasks without piling their tracebacks onto one object."""
    kind = type(exc)
    copy = kind.__new__(kind, *exc.args)
    copy.args = exc.args
    copy.__dict__.update(exc.__dict__)
    return copy
