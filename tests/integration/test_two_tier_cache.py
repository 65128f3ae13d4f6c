"""The exchange cache with its shared tier on a real Redis: a miss asks the store, an exchange
writes through, expiry follows the in-process rule, and the store failing costs nothing but an
exchange."""

from __future__ import annotations

import os

import pytest

from keycard_serve import ExchangedToken
from keycard_serve._exchange_cache import ExchangeCache, cache_key
from keycard_serve._shared_cache import SharedTokenCache
from keycard_serve.errors import TokenExchangeError
from tests.support.redis_server import RedisServer

KEY = os.urandom(32)
NOW = 1_800_000_000.0
RESOURCE = "https://api.weather.example/"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Zone:
    """Counts exchanges; each issues a token valid ``lifetime`` seconds from ``clock``."""

    def __init__(self, clock: Clock, lifetime: int = 600) -> None:
        self.clock, self.lifetime, self.exchanges = clock, lifetime, 0

    async def exchange(self) -> ExchangedToken:
        self.exchanges += 1
        return ExchangedToken(
            access_token=f"delegated-{self.exchanges}",
            resource=RESOURCE,
            expires_in=self.lifetime,
            expires_at=self.clock() + self.lifetime,
        )


@pytest.fixture(autouse=True)
def empty_store(store: RedisServer) -> None:
    with store.client() as raw:
        raw.flushall()


def process(url: str, clock: Clock) -> ExchangeCache:
    """One worker's or replica's cache: its own in-process tier, the shared store behind it."""
    shared = SharedTokenCache(
        url, encryption_keys=[KEY], namespace="two-tier", record_type=ExchangedToken, clock=clock
    )
    return ExchangeCache(clock=clock, shared=shared)


KEY_ALICE = cache_key("alice-caller-token", RESOURCE, (), "srv")


async def test_a_token_exchanged_by_one_process_is_reused_by_the_others(
    store: RedisServer,
) -> None:
    clock = Clock()
    zone = Zone(clock)
    first, second, third = (process(store.url, clock) for _ in range(3))
    tokens = [
        await cache.get_or_exchange(KEY_ALICE, zone.exchange, not_after=NOW + 3600)
        for cache in (first, second, third, second)
    ]
    assert zone.exchanges == 1
    assert {token.access_token for token in tokens} == {"delegated-1"}
    other_user = cache_key("bob-caller-token", RESOURCE, (), "srv")
    await third.get_or_exchange(other_user, zone.exchange, not_after=NOW + 3600)
    assert zone.exchanges == 2


async def test_entries_expire_at_the_callers_expiry_minus_the_skew(store: RedisServer) -> None:
    clock = Clock()
    zone = Zone(clock, lifetime=600)
    caller_expiry = NOW + 100  # earlier than the delegated token's
    await process(store.url, clock).get_or_exchange(
        KEY_ALICE, zone.exchange, not_after=caller_expiry
    )
    with store.client() as raw:
        (name,) = raw.keys("*")
        assert 69_000 < raw.pttl(name) <= 70_000  # 100 s - 30 s skew, in the store's own TTL
    clock.now = caller_expiry - 30  # past the sealed expiry: another process must exchange
    await process(store.url, clock).get_or_exchange(
        KEY_ALICE, zone.exchange, not_after=caller_expiry + 3600
    )
    assert zone.exchanges == 2


async def test_refusals_stay_in_the_process_that_met_them(store: RedisServer) -> None:
    clock = Clock()

    async def refuse() -> ExchangedToken:
        raise TokenExchangeError("no", resource=RESOURCE, code="invalid_target", retryable=False)

    with pytest.raises(TokenExchangeError):
        await process(store.url, clock).get_or_exchange(KEY_ALICE, refuse, not_after=None)
    with store.client() as raw:
        assert raw.dbsize() == 0


async def test_a_dead_store_means_a_direct_exchange_never_a_failed_call(
    store: RedisServer,
) -> None:
    clock = Clock()
    zone = Zone(clock)
    cache = process(store.url, clock)
    store.kill()
    try:
        token = await cache.get_or_exchange(KEY_ALICE, zone.exchange, not_after=None)
        assert token.access_token == "delegated-1"
        assert await cache.get_or_exchange(KEY_ALICE, zone.exchange, not_after=None) == token
        assert zone.exchanges == 1  # the in-process tier still works
    finally:
        store.start()


async def test_servers_asking_the_zone_differently_never_share_entries(
    store: RedisServer,
) -> None:
    """A reload that changes the zone or the exchange settings (or old and new replicas in a
    rolling update) must not read tokens made under the old ones from the shared store."""
    from keycard_serve import ExchangeProfile
    from keycard_serve.provider import _delegation_context

    clock = Clock()
    zone = Zone(clock)

    def server(context: str) -> ExchangeCache:
        shared = SharedTokenCache(
            store.url,
            encryption_keys=[KEY],
            namespace="two-tier",
            record_type=ExchangedToken,
            clock=clock,
            context=context,
        )
        return ExchangeCache(clock=clock, shared=shared)

    by_resource = _delegation_context("https://zone.example", ExchangeProfile())
    by_audience = _delegation_context("https://zone.example", ExchangeProfile(target="audience"))
    other_zone = _delegation_context("https://other.example", ExchangeProfile())
    assert len({by_resource, by_audience, other_zone}) == 3
    for context in (by_resource, by_audience, other_zone, by_resource):
        await server(context).get_or_exchange(KEY_ALICE, zone.exchange, not_after=NOW + 3600)
    # One exchange per distinct context; the last server reads the first one's entry.
    assert zone.exchanges == 3
