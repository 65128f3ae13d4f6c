"""Keep CPython's cyclic garbage collector off the objects a server keeps for its whole life.

A served process holds about 120,000 objects built at start (modules, FastMCP's app, the
config, pydantic's schemas) and keeps them to the end. The collector walks every one of them
at each full collection, about 60 ms of blocked event loop on a 2-core VM, and per-call
objects trigger one every few thousand calls: measured with ``bench/warm.py``, about a fifth of
a warm call's server CPU and most of its p99 latency. ``gc.freeze()`` moves every object alive
at that moment to a permanent generation that collections skip. Reference counting still frees
a frozen object the moment nothing refers to it; only a frozen *cycle* that becomes garbage
waits for the next ``gc.unfreeze()``.

A reload replaces the configuration, and re-imported modules and a replaced provider (closed
after a grace period) become garbage that may hold cycles, so ``LongLivedHeap.thaw`` unfreezes
at once and freezes again (after a full collection) once reloads have settled.
"""

from __future__ import annotations

import asyncio
import gc

__all__ = ["LongLivedHeap"]


class LongLivedHeap:
    """Freeze what start-up built; thaw on reload, freeze again ``settle`` seconds (float)
    after the last one.

    ``freeze()`` and ``thaw()`` act on the whole interpreter: only the process's owner (the
    ``serve`` of ``keycard-serve run`` and of each worker) may use them, never a library.
    ``close()`` cancels a pending freeze.
    """

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self._pending: asyncio.TimerHandle | None = None

    def freeze(self) -> None:
        """Collect start-up's garbage, then exempt every surviving object from collections."""
        self._pending = None
        gc.collect()
        gc.freeze()

    def thaw(self) -> None:
        """Unfreeze now (a replaced configuration's cycles become collectable) and freeze again
        ``settle`` seconds after the last thaw; call it in the running event loop."""
        gc.unfreeze()
        if self._pending is not None:
            self._pending.cancel()
        self._pending = asyncio.get_running_loop().call_later(self.settle, self.freeze)

    def close(self) -> None:
        """Cancel a freeze not yet done."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
