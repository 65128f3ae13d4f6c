"""RemoteJWKSet against an in-memory JWKS host, no socket (catalogue §2a #6-#12, #26, #29)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jwt.algorithms import RSAAlgorithm

from keycard_serve._http import ClientPool
from keycard_serve._jwks import RemoteJWKSet
from keycard_serve.errors import JWKSError
from tests.support.keys import InMemoryHosts, JWKSHost, ec_key, public_jwk, rsa_key

RSA_1 = public_jwk(rsa_key(), "rsa-1", alg="RS256", use="sig")
RSA_2 = public_jwk(rsa_key("rotated"), "rsa-2", alg="RS256")
EC_1 = public_jwk(ec_key(), "ec-1", alg="ES256")

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Clock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def served() -> JWKSHost:
    return JWKSHost(base_url="https://jwks.test")


@pytest.fixture(scope="module")
def elsewhere() -> JWKSHost:
    """Another host on the same in-memory network: an attacker's, or a redirect target."""
    return JWKSHost(base_url="https://elsewhere.test")


@pytest.fixture(scope="module")
def pool(served: JWKSHost, elsewhere: JWKSHost) -> ClientPool:
    """Clients reaching only the in-memory hosts: these unit tests open no socket."""
    return ClientPool(transport=InMemoryHosts(served, elsewhere))


@pytest.fixture
def host(served: JWKSHost) -> Iterator[JWKSHost]:
    served.reset({"keys": [RSA_1, EC_1]})
    yield served
    served.reset()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make(host: JWKSHost, pool: ClientPool, clock: Clock) -> Any:
    def make(**options: Any) -> RemoteJWKSet:
        return RemoteJWKSet(host.url, pool.get, clock=clock, **options)

    return make


async def code_of(jwks: RemoteJWKSet, header: dict[str, Any]) -> str:
    with pytest.raises(JWKSError) as caught:
        await jwks.get_signing_key(header)
    return caught.value.code


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": math.nan},
        {"timeout": 0},
        {"timeout": math.inf},
        {"timeout": True},
        {"cooldown": -1},
        {"cooldown": math.nan},
        {"max_age": 0},
        {"max_age": -5.0},
        {"max_bytes": 0},
        {"max_bytes": 1.5},
    ],
)
async def test_constructor_rejects_bad_numbers(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RemoteJWKSet("http://127.0.0.1/jwks", httpx.AsyncClient, **options)


async def test_keys_are_fetched_once_and_bound_to_the_header_alg(make: Any, host: JWKSHost) -> None:
    jwks = make()
    rsa = await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"})
    ec = await jwks.get_signing_key({"alg": "ES256", "kid": "ec-1"})
    assert (rsa.algorithm_name, rsa.key_id, ec.algorithm_name) == ("RS256", "rsa-1", "ES256")
    assert host.hits == 1
    assert jwks.url == host.url


async def test_unusable_keys_are_skipped_and_the_rest_kept(make: Any, host: JWKSHost) -> None:
    """#8: oct, enc, private, unparseable and foreign-alg keys are never used."""
    host.jwks = {
        "keys": [
            RSA_1,
            {"kty": "oct", "kid": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"},
            public_jwk(rsa_key(), "enc", use="enc"),
            public_jwk(rsa_key(), "ops", key_ops=["encrypt"]),
            public_jwk(rsa_key(), "oaep", alg="RSA-OAEP"),
            public_jwk(rsa_key(), "hs", alg="HS256"),
            private_jwk("private"),
            {"kty": "RSA", "kid": "garbage", "n": "!!!", "e": "AQAB"},
            {"kty": "EC", "kid": "no-coordinates", "crv": "P-256"},
            {"kty": "EC", "kid": "k1-curve", "crv": "secp256k1", "x": "AA", "y": "AA"},
            public_jwk(rsa_key(), ["unhashable"]),
            "not a key",
        ]
    }
    jwks = make()
    assert (await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"})).key_id == "rsa-1"
    for kid in ("oct", "enc", "ops", "oaep", "hs", "private", "garbage", "no-coordinates"):
        assert await code_of(jwks, {"alg": "RS256", "kid": kid}) == "jwks_no_matching_key"
    assert await code_of(jwks, {"alg": "HS256", "kid": "oct"}) == "jwks_no_matching_key"
    assert host.hits == 1


async def test_a_duplicated_kid_is_ambiguous(make: Any, host: JWKSHost) -> None:
    """#8: which of two keys named alike the AS meant is unknowable, so neither is used."""
    other = public_jwk(rsa_key("rotated"), "rsa-1", alg="RS256")
    host.jwks = {"keys": [RSA_1, other, EC_1]}
    jwks = make()
    assert await code_of(jwks, {"alg": "RS256", "kid": "rsa-1"}) == "jwks_no_matching_key"
    assert (await jwks.get_signing_key({"alg": "ES256", "kid": "ec-1"})).key_id == "ec-1"


async def test_a_kid_shared_with_an_encryption_key_is_not_ambiguous(
    make: Any, host: JWKSHost
) -> None:
    host.jwks = {"keys": [RSA_1, public_jwk(rsa_key("rotated"), "rsa-1", use="enc")]}
    key = await make().get_signing_key({"alg": "RS256", "kid": "rsa-1"})
    assert key.key_id == "rsa-1"


async def test_json_that_is_not_a_jwks_with_usable_keys_is_invalid(
    make: Any, host: JWKSHost
) -> None:
    host.jwks = {"keys": [{"kty": "oct", "kid": "oct", "k": "c2VjcmV0"}]}
    assert await code_of(make(), {"alg": "RS256", "kid": "oct"}) == "jwks_invalid"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "PS256", "kid": "rsa-1"}, "the key's own alg is RS256"),
        ({"alg": "ES256", "kid": "rsa-1"}, "an RSA key cannot serve ES256"),
        ({"alg": "RS256", "kid": "ec-1"}, "an EC key cannot serve RS256"),
        ({"alg": "ES384", "kid": "p256"}, "a P-256 key cannot serve ES384"),
        ({"alg": "HS256", "kid": "rsa-1"}, "HS256 is never served"),
        ({"alg": "none", "kid": "rsa-1"}, "none is never served"),
        ({"kid": "rsa-1"}, "alg missing"),
    ],
)
async def test_the_header_alg_must_fit_the_key(
    make: Any, host: JWKSHost, header: dict[str, Any], reason: str
) -> None:
    """#7 and #6: one key, one algorithm."""
    host.jwks = {"keys": [RSA_1, EC_1, public_jwk(ec_key(), "p256")]}
    assert await code_of(make(), header) == "jwks_no_matching_key", reason


async def test_a_key_without_alg_serves_every_algorithm_of_its_type(
    make: Any, host: JWKSHost
) -> None:
    host.jwks = {"keys": [public_jwk(rsa_key(), "bare")]}
    jwks = make()
    for alg in ("RS256", "PS384"):
        assert (await jwks.get_signing_key({"alg": alg, "kid": "bare"})).algorithm_name == alg


@pytest.mark.parametrize(
    ("kid", "code", "fetches"),
    [
        ("../../../../../../dev/null", "jwks_no_matching_key", 1),
        ("/dev/null", "jwks_no_matching_key", 1),
        ("' OR 1=1--", "jwks_no_matching_key", 1),
        ("k" * 10_000, "jwks_invalid_kid", 0),
        (7, "jwks_invalid_kid", 0),
        (["rsa-1"], "jwks_invalid_kid", 0),
        (None, "jwks_invalid_kid", 0),
    ],
)
async def test_hostile_kids_are_only_dictionary_keys(
    make: Any, host: JWKSHost, kid: Any, code: str, fetches: int
) -> None:
    """#10: a kid is looked up, never used as a path or a query; a bad one costs no fetch."""
    assert await code_of(make(), {"alg": "RS256", "kid": kid}) == code
    assert host.hits == fetches


async def test_without_kid_only_a_lone_key_is_used(make: Any, host: JWKSHost) -> None:
    """#11: OIDF KidAbsentSingleJwks / KidAbsentMultipleMatchingKeysInJwks."""
    host.jwks = {"keys": [RSA_1]}
    assert (await make().get_signing_key({"alg": "RS256"})).key_id == "rsa-1"
    host.jwks = {"keys": [RSA_1, RSA_2]}
    assert await code_of(make(), {"alg": "RS256"}) == "jwks_no_matching_key"


async def test_concurrent_callers_share_one_fetch(make: Any, host: JWKSHost) -> None:
    gate = host.hold = threading.Event()
    jwks = make()
    waiters = [
        asyncio.create_task(jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"}))
        for _ in range(50)
    ]
    await _until(lambda: host.hits == 1)
    gate.set()
    keys = await asyncio.gather(*waiters)
    assert {key.key_id for key in keys} == {"rsa-1"}
    assert host.hits == 1


async def test_unknown_kids_refetch_once_per_cooldown(
    make: Any, host: JWKSHost, clock: Clock
) -> None:
    """#9 and #26: a new kid is found after one refetch; misses inside the cooldown cost none."""
    jwks = make()
    await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"})
    host.jwks = {"keys": [RSA_1, RSA_2]}
    clock.now += 29
    assert await code_of(jwks, {"alg": "RS256", "kid": "rsa-2"}) == "jwks_no_matching_key"
    assert host.hits == 1
    clock.now += 2
    assert (await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-2"})).key_id == "rsa-2"
    assert host.hits == 2
    for kid in ("rsa-3", "rsa-4", "rsa-5"):
        assert await code_of(jwks, {"alg": "RS256", "kid": kid}) == "jwks_no_matching_key"
    assert host.hits == 2


async def test_a_storm_of_unknown_kids_fetches_once(
    make: Any, host: JWKSHost, clock: Clock
) -> None:
    jwks = make()
    await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"})
    clock.now += 31
    headers = [{"alg": "RS256", "kid": f"random-{n}"} for n in range(1000)]
    results = await asyncio.gather(
        *(jwks.get_signing_key(h) for h in headers), return_exceptions=True
    )
    assert {r.code for r in results if isinstance(r, JWKSError)} == {"jwks_no_matching_key"}
    assert len(results) == 1000
    assert host.hits == 2


async def test_keys_expire_after_max_age(make: Any, host: JWKSHost, clock: Clock) -> None:
    """#26: a rotated-out key stops working once the cache is refreshed."""
    jwks = make(max_age=600)
    await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"})
    host.jwks = {"keys": [RSA_2]}
    clock.now += 599
    assert (await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"})).key_id == "rsa-1"
    assert host.hits == 1
    clock.now += 1
    assert await code_of(jwks, {"alg": "RS256", "kid": "rsa-1"}) == "jwks_no_matching_key"
    assert host.hits == 2


OUTAGES = [
    ("status_500", "jwks_http_status"),
    ("slow", "jwks_timeout"),
    ("slow_body", "jwks_timeout"),
    ("not_json", "jwks_invalid"),
    ("not_jwks", "jwks_invalid"),
    ("huge", "jwks_too_large"),
    ("huge_chunked", "jwks_too_large"),
]


@pytest.mark.parametrize(("mode", "code"), OUTAGES)
async def test_an_outage_keeps_serving_cached_keys(
    make: Any, host: JWKSHost, clock: Clock, mode: str, code: str
) -> None:
    """#29: stale-if-error; the failed refetch counts against the cooldown.

    An unknown kid while the set cannot be refreshed is "could not check" (the key may
    exist), never "no matching key"."""
    jwks = make(timeout=0.3)
    await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"})
    host.mode = mode
    clock.now += 601
    assert (await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"})).key_id == "rsa-1"
    with pytest.raises(JWKSError) as caught:
        await jwks.get_signing_key({"alg": "RS256", "kid": "unknown"})
    assert caught.value.code == "jwks_unavailable"
    assert host.hits == 2
    host.mode = "ok"
    host.jwks = {"keys": [RSA_2]}
    clock.now += 30
    assert (await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-2"})).key_id == "rsa-2"
    assert host.hits == 3


@pytest.mark.parametrize(("mode", "code"), OUTAGES)
async def test_without_keys_an_outage_fails_closed(
    make: Any, host: JWKSHost, clock: Clock, mode: str, code: str
) -> None:
    jwks = make(timeout=0.3)
    host.mode = mode
    assert await code_of(jwks, {"alg": "RS256", "kid": "rsa-1"}) == code
    assert await code_of(jwks, {"alg": "RS256", "kid": "rsa-1"}) == "jwks_unavailable"
    assert host.hits == 1
    host.mode = "ok"
    clock.now += 2  # with no key at all, retried after 2 s rather than the 30 s cooldown
    assert (await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"})).key_id == "rsa-1"
    assert host.hits == 2


async def test_waiters_on_a_failed_fetch_each_get_their_own_error(
    make: Any, host: JWKSHost
) -> None:
    """One exception object raised in many tasks would pile their tracebacks onto each other."""
    host.mode = "status_500"
    jwks = make()
    header = {"alg": "RS256", "kid": "rsa-1"}
    errors = await asyncio.gather(
        *(jwks.get_signing_key(header) for _ in range(3)), return_exceptions=True
    )
    assert [e.code for e in errors if isinstance(e, JWKSError)] == ["jwks_http_status"] * 3
    assert len({id(e) for e in errors}) == 3
    assert host.hits == 1


async def test_redirects_are_not_followed(make: Any, host: JWKSHost, elsewhere: JWKSHost) -> None:
    """#30 (JWKS part): a JWKS answering with a redirect to another host is an error."""
    elsewhere.reset({"keys": [RSA_1]})
    host.mode, host.redirect_to = "redirect", elsewhere.url
    assert await code_of(make(), {"alg": "RS256", "kid": "rsa-1"}) == "jwks_redirect"
    assert elsewhere.hits == 0


async def test_an_unreachable_endpoint_is_a_network_error(pool: ClientPool) -> None:
    jwks = RemoteJWKSet("https://unreachable.test/jwks", pool.get)
    assert await code_of(jwks, {"alg": "RS256", "kid": "rsa-1"}) == "jwks_network"


async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch(
    make: Any, host: JWKSHost
) -> None:
    gate = host.hold = threading.Event()
    jwks = make()
    header = {"alg": "RS256", "kid": "rsa-1"}
    waiters = [asyncio.create_task(jwks.get_signing_key(header)) for _ in range(3)]
    await _until(lambda: host.hits == 1)
    waiters[0].cancel()
    gate.set()
    keys = await asyncio.gather(*waiters[1:])
    assert [key.key_id for key in keys] == ["rsa-1", "rsa-1"]
    assert waiters[0].cancelled()
    assert host.hits == 1


async def test_a_fetch_whose_waiters_all_left_still_fills_the_cache(
    make: Any, host: JWKSHost
) -> None:
    gate = host.hold = threading.Event()
    jwks = make()
    header = {"alg": "RS256", "kid": "rsa-1"}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(jwks.get_signing_key(header), 0.05)
    gate.set()
    await _until(lambda: jwks._keys is not None)
    assert (await jwks.get_signing_key(header)).key_id == "rsa-1"
    assert host.hits == 1


async def test_clear_forgets_keys_and_discards_the_fetch_in_flight(
    make: Any, host: JWKSHost
) -> None:
    """The sequence number: an answer older than ``clear()`` never overwrites a newer one."""
    host.jwks, gate = {"keys": [RSA_1]}, threading.Event()
    host.hold = gate
    jwks = make()
    old = asyncio.create_task(jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"}))
    await _until(lambda: host.hits == 1)
    jwks.clear()
    host.jwks, host.hold = {"keys": [RSA_2]}, None
    assert (await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-2"})).key_id == "rsa-2"
    gate.set()
    with pytest.raises(JWKSError) as caught:
        await old
    assert caught.value.code == "jwks_no_matching_key"
    assert (await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-2"})).key_id == "rsa-2"
    assert await code_of(jwks, {"alg": "RS256", "kid": "rsa-1"}) == "jwks_no_matching_key"
    assert host.hits == 2


async def test_clear_resets_the_cooldown(make: Any, host: JWKSHost) -> None:
    jwks = make()
    await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-1"})
    host.jwks = {"keys": [RSA_2]}
    jwks.clear()
    assert (await jwks.get_signing_key({"alg": "RS256", "kid": "rsa-2"})).key_id == "rsa-2"
    assert host.hits == 2


async def test_a_fetch_stranded_in_a_closed_loop_is_abandoned(make: Any, host: JWKSHost) -> None:
    """A provider outliving an event loop (per-test loops) must not await that loop's task."""
    jwks = make()
    header = {"alg": "RS256", "kid": "rsa-1"}
    gate = host.hold = threading.Event()

    async def abandon() -> None:
        waiter = asyncio.ensure_future(jwks.get_signing_key(header))
        await _until(lambda: host.hits == 1)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter

    def strand() -> None:
        loop = asyncio.new_event_loop()
        loop.run_until_complete(abandon())
        loop.close()  # with the shared fetch still pending in it

    await asyncio.to_thread(strand)
    host.hold = None
    try:
        assert (await jwks.get_signing_key(header)).key_id == "rsa-1"
    finally:
        gate.set()
    assert host.hits == 2


def private_jwk(kid: str) -> dict[str, Any]:
    """A private key published by mistake (without the key_ops pyjwt adds, to isolate ``d``)."""
    jwk = RSAAlgorithm.to_jwk(rsa_key(), as_dict=True)
    del jwk["key_ops"]
    return {**jwk, "kid": kid}


async def _until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")
