"""The launcher's frozen heap: start-up objects out of the collector's way, refreshed."""

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
    """A container the collector tracks; it can refer to itself (a cycle)."""

    other: _Node | None = None


def _tracked(obj: object) -> bool:
    """Whether a collection would look at ``obj`` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


async def _until(condition, deadline: float) -> bool:
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return condition()


async def test_start_takes_live_objects_out_of_collections():
    kept: list[object] = [object()]
    assert _tracked(kept)
    heap = LongLivedHeap(refresh=60)
    heap.start()
    heap.close()
    assert not _tracked(kept)
    assert gc.get_freeze_count() > 0
    made_after: list[object] = []
    assert _tracked(made_after)  # per-call objects are collected as ever


async def test_start_collects_start_up_garbage_before_freezing_it():
    gc.disable()  # nothing else collects the cycle first
    try:
        node = _Node()
        node.other = node
        watched = weakref.ref(node)
        del node
        heap = LongLivedHeap(refresh=60)
        heap.start()
        heap.close()
        assert watched() is None
    finally:
        gc.enable()


async def test_a_frozen_cycle_that_became_garbage_is_freed_at_the_next_refresh():
    node = _Node()
    node.other = node  # say, the configuration a reload is about to replace
    watched = weakref.ref(node)
    heap = LongLivedHeap(refresh=0.3)
    heap.start()
    try:
        del node
        gc.collect()
        assert watched() is not None  # frozen: no collection frees it
        assert await _until(lambda: watched() is None, time.monotonic() + 5)
        assert gc.get_freeze_count() > 0  # frozen again after the full collection
    finally:
        heap.close()


async def test_a_closed_heap_refreshes_no_more():
    heap = LongLivedHeap(refresh=0.05)
    heap.start()
    heap.close()
    node = _Node()
    node.other = node
    watched = weakref.ref(node)
    gc.freeze()
    del node
    await asyncio.sleep(0.3)  # six refresh periods: none may run
    assert watched() is not None
