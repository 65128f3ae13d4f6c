"""SingleFlight: one call per key, its result shared, its failure copied per waiter."""

from __future__ import annotations

import asyncio

import pytest

from keycard_serve._singleflight import SingleFlight
from keycard_serve.errors import TokenExchangeError

pytestmark = pytest.mark.asyncio


async def test_concurrent_callers_share_one_call() -> None:
    flight: SingleFlight[int] = SingleFlight()
    release = asyncio.Event()
    calls = 0

    async def fn() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    waiters = [asyncio.create_task(flight.run("k", fn)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == [42] * 5
    assert calls == 1
    assert await flight.run("k", fn) == 42 and calls == 2  # done calls are forgotten


async def test_every_waiter_gets_its_own_copy_of_the_failure() -> None:
    """Attributes set by keyword in __init__ survive; __init__ is not re-run."""
    flight: SingleFlight[int] = SingleFlight()
    release = asyncio.Event()

    async def fn() -> int:
        await release.wait()
        raise TokenExchangeError("refused", resource="https://api.test/", error="invalid_target")

    waiters = [asyncio.create_task(flight.run("k", fn)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    errors = await asyncio.gather(*waiters, return_exceptions=True)
    assert len({id(error) for error in errors}) == 3
    for error in errors:
        assert isinstance(error, TokenExchangeError)
        assert (error.message, error.resource, error.error) == (
            "refused",
            "https://api.test/",
            "invalid_target",
        )
        assert isinstance(error.__cause__, TokenExchangeError)


async def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    flight: SingleFlight[str] = SingleFlight()
    release = asyncio.Event()

    async def fn() -> str:
        await release.wait()
        return "done"

    first = asyncio.create_task(flight.run("k", fn))
    second = asyncio.create_task(flight.run("k", fn))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first
