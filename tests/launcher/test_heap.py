"""The launcher's frozen heap: start-up objects out of the collector's way, thawed on reload."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

import pytest

from keycard_serve.launcher._heap import LongLivedHeap


@pytest.fixture(autouse=True)
def _thawed():
    """Whatever a test froze is unfrozen after it: the test process keeps collecting."""
    yield
    gc.unfreeze()


class _Node:
    """A container the collector tracks; two of them can form a cycle."""

    other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    """A garbage cycle only the collector can free, and a weak reference to watch it."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


async def _until_frozen(deadline: float) -> None:
    while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def _tracked(obj: object) -> bool:
    """Whether a collection would look at ``obj`` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


def test_freeze_takes_live_objects_out_of_collections():
    kept: list[object] = [object()]
    assert _tracked(kept)
    LongLivedHeap(settle=60).freeze()
    assert not _tracked(kept)
    assert gc.get_freeze_count() > 0
    made_after: list[object] = []
    assert _tracked(made_after)  # per-call objects are collected as ever


def test_freeze_collects_start_up_garbage_before_freezing_it():
    gc.disable()  # nothing else collects the cycle first
    try:
        watched = _cycle()
        assert watched() is not None
        LongLivedHeap(settle=60).freeze()
        assert watched() is None
    finally:
        gc.enable()


async def test_a_reloads_garbage_cycle_is_freed_once_reloads_settle():
    heap = LongLivedHeap(settle=0.2)
    alive = _Node()
    alive.other = alive
    watched = weakref.ref(alive)
    heap.freeze()  # the configuration being served, frozen with everything else
    del alive  # a reload replaces it: a frozen cycle is garbage now
    gc.collect()
    assert watched() is not None  # frozen: no collection frees it
    heap.thaw()
    assert gc.get_freeze_count() == 0
    thawed_at = time.monotonic()
    await asyncio.sleep(0.1)
    heap.thaw()  # a second reload within the window pushes the freeze back
    await asyncio.sleep(0.15)
    assert gc.get_freeze_count() == 0  # 0.25 s after the first thaw, 0.15 s after the last
    await _until_frozen(time.monotonic() + 5)
    assert gc.get_freeze_count() > 0
    assert time.monotonic() - thawed_at >= 0.3
    assert watched() is None  # collected before the new freeze


async def test_a_closed_heap_freezes_nothing_more():
    heap = LongLivedHeap(settle=0.05)
    heap.thaw()
    heap.close()
    await asyncio.sleep(0.2)
    assert gc.get_freeze_count() == 0
