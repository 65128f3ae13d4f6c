"""Keep CPython's cyclic garbage collector off the objects a server keeps for its whole life.

A served process holds about 120,000 objects built at start (modules, FastMCP's app, the
config, pydantic's schemas) and keeps them to the end. The collector walks every one of them
at each full collection, about 60 ms of blocked event loop on a 2-core VM, and per-call
objects trigger one every few thousand calls: measured with ``bench/warm.py``, about a fifth of
a warm call's server CPU and most of its p99 latency. ``gc.freeze()`` moves every object alive
at that moment to a permanent generation that collections skip. Reference counting still frees
a frozen object the moment nothing refers to it; only a frozen *cycle* that becomes garbage
(a configuration replaced by a reload, a re-imported module's classes) waits, so every
``refresh`` seconds the heap is unfrozen, collected in full once and frozen again.
"""

from __future__ import annotations

import asyncio
import gc

__all__ = ["LongLivedHeap"]

_REFRESH_SECONDS = 300.0


class LongLivedHeap:
    """Freeze what is alive now, and again after a full collection every ``refresh`` seconds
    (float), so one full collection per period replaces one every few thousand calls.

    It acts on the whole interpreter: only the process's owner (the ``serve`` of
    ``keycard-serve run`` and of each worker) may use it, never a library. ``start()`` and
    ``close()`` are called in the running event loop.
    """

    def __init__(self, refresh: float = _REFRESH_SECONDS) -> None:
        self.refresh = refresh
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Collect what start-up left behind, freeze every survivor, and schedule refreshes."""
        gc.collect()
        gc.freeze()
        self._timer = asyncio.get_running_loop().call_later(self.refresh, self._refresh)

    def _refresh(self) -> None:
        gc.unfreeze()
        self.start()

    def close(self) -> None:
        """Stop refreshing; what is frozen stays frozen until the process exits."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
