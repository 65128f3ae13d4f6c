"""``ClientPool`` lifecycle, without a socket (finding 8 on issue 8)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from keycard_serve._http import ClientPool
from keycard_serve.launcher import reload


async def test_get_after_aclose_refuses_instead_of_opening_a_client_nobody_closes():
    pool = ClientPool(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    client = pool.get()
    await pool.aclose()
    assert client.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        pool.get()


def test_a_closed_pool_still_serves_another_event_loop():
    """A client belongs to one loop: closing on one loop says nothing about the next."""
    pool = ClientPool(transport=httpx.MockTransport(lambda request: httpx.Response(200)))

    async def use_then_close() -> None:
        pool.get()
        await pool.aclose()

    asyncio.run(use_then_close())

    async def use() -> bool:
        return pool.get().is_closed

    assert asyncio.run(use()) is False


async def test_a_replaced_providers_close_task_is_kept_until_it_ran(monkeypatch):
    """The loop holds tasks weakly: the delayed close of a replaced provider is referenced."""
    closed = asyncio.Event()

    class Provider:
        async def aclose(self) -> None:
            closed.set()

    monkeypatch.setattr(reload, "_OLD_PROVIDER_GRACE", 0.0)
    task = reload._close_later(Provider())  # type: ignore[arg-type]
    assert task in reload._closing
    await asyncio.wait_for(closed.wait(), 5)
    await task
    assert task not in reload._closing
