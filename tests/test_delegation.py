"""Concurrent, cached, failure-isolating exchanges behind the grant decorator (in memory)."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from keycard_serve import ClientSecret, ExchangedToken
from keycard_serve._delegation import Delegator
from keycard_serve._discovery import ZoneDiscovery
from keycard_serve._exchange import TokenExchanger
from keycard_serve._exchange_cache import ExchangeCache
from keycard_serve._grant import Grant, normalize_grants
from keycard_serve._http import ClientPool
from tests.support.fake_zone import FakeZone, exchanged, in_memory_zone

A, B, DENIED = "https://a.example/", "https://b.example/", "https://denied.example/"


class Clock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory_zone() -> tuple[FakeZone, ClientPool]:
    zone, transport = in_memory_zone()
    return zone, ClientPool(transport=transport)


@pytest.fixture
def zone(memory_zone) -> FakeZone:
    return memory_zone[0]


@pytest.fixture
def delegator_for(memory_zone, clock):
    """``delegator_for(zone, cache=None, **delegator_options)``: exchanges through the zone."""
    _, pool = memory_zone

    def build(zone, cache: ExchangeCache | None = None, **options) -> Delegator:
        discovery = ZoneDiscovery(zone.issuer, pool.get)
        exchanger = TokenExchanger(
            discovery.metadata, ClientSecret(("mcp", "s")), pool.get, clock=clock
        )
        cache = ExchangeCache(clock=clock) if cache is None else cache
        return Delegator(exchanger, cache, clock=clock, **options)

    return build


def per_resource(request_form_resource_to_body):
    async def handler(request: Request) -> Response:
        form = await request.form()
        status, body = request_form_resource_to_body(form)
        return JSONResponse(body, status_code=status)

    return handler


def token_for_resource_and_subject(form):
    if form["resource"] == DENIED:
        return 400, {"error": "invalid_target", "error_description": "not allowed"}
    return 200, exchanged(f"{form['subject_token']}@{form['resource']}")


async def test_every_success_is_kept_when_one_resource_fails(zone, delegator_for):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    grants = [Grant(A), Grant(DENIED), Grant(B)]
    access = await delegator_for(zone).access_for("user-1", None, grants)

    assert access.get_status() == "partial_error"
    assert access.access(A).access_token == f"user-1@{A}"
    assert access.access(B).access_token == f"user-1@{B}"
    assert access.get_resource_errors(DENIED)["code"] == "invalid_target"
    assert access.get_resource_errors(DENIED)["resource"] == DENIED
    assert len(zone.paths("/token")) == 3


async def test_exchanges_for_several_resources_are_in_flight_together(zone, delegator_for):
    # The zone answers only once all three requests have arrived: sequential exchanges
    # would each wait for the others and fail.
    arrived: asyncio.Event | None = None  # created in the server's own event loop
    count = 0

    async def handler(request: Request) -> Response:
        nonlocal count, arrived
        arrived = arrived or asyncio.Event()
        count += 1
        if count == 3:
            arrived.set()
        try:
            await asyncio.wait_for(arrived.wait(), timeout=3)
        except TimeoutError:
            return JSONResponse({"error": "temporarily_unavailable"}, status_code=400)
        return JSONResponse(exchanged(f"t{count}"))

    zone.token_handler = handler
    grants = [Grant("https://1.example/"), Grant("https://2.example/"), Grant("https://3.example/")]
    access = await delegator_for(zone).access_for("user-1", None, grants)
    assert access.get_status() == "success"


async def test_identical_calls_share_one_exchange(zone, delegator_for):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    delegator = delegator_for(zone)
    results = await asyncio.gather(
        *(delegator.access_for("user-1", None, [Grant(A)]) for _ in range(20))
    )
    again = await delegator.access_for("user-1", None, [Grant(A)])
    tokens = {r.access(A).access_token for r in [*results, again]}
    assert tokens == {f"user-1@{A}"}
    assert len(zone.paths("/token")) == 1


async def test_users_never_share_cached_tokens(zone, delegator_for):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    delegator = delegator_for(zone)
    alice = await delegator.access_for("alice-token", None, [Grant(A)])
    bob = await delegator.access_for("bob-token", None, [Grant(A)])
    assert alice.access(A).access_token == f"alice-token@{A}"
    assert bob.access(A).access_token == f"bob-token@{A}"
    assert len(zone.paths("/token")) == 2


async def test_requested_scopes_are_part_of_the_cache_key(zone, delegator_for):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    delegator = delegator_for(zone)
    await delegator.access_for("u", None, [Grant(A, ("read",))])
    await delegator.access_for("u", None, [Grant(A, ("write",))])
    assert [r.form["scope"] for r in zone.paths("/token")] == ["read", "write"]


async def test_cached_tokens_are_not_reused_past_the_callers_expiry(zone, delegator_for, clock):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    delegator = delegator_for(zone)
    caller_expiry = clock.now + 100  # downstream tokens live 300 s, the caller's only 100 s
    await delegator.access_for("u", caller_expiry, [Grant(A)])
    clock.now += 60
    await delegator.access_for("u", caller_expiry, [Grant(A)])
    assert len(zone.paths("/token")) == 1
    clock.now += 15  # 75 s in: within the 30 s skew of the caller's expiry
    await delegator.access_for("u", caller_expiry, [Grant(A)])
    assert len(zone.paths("/token")) == 2


@pytest.mark.parametrize(
    ("lifetime", "reused_until", "exchanged_again_at"),
    [(30, 14, 16), (10, 4, 6), (60, 29, 31), (300, 269, 271)],
)
async def test_short_lived_tokens_are_cached_for_half_their_life_long_ones_until_30s_before(
    zone, delegator_for, clock, lifetime, reused_until, exchanged_again_at
):
    async def handler(request: Request) -> Response:
        return JSONResponse(exchanged(f"t{len(zone.paths('/token'))}", expires_in=lifetime))

    zone.token_handler = handler
    delegator = delegator_for(zone)
    start = clock.now
    first = await delegator.access_for("u", None, [Grant(A)])
    clock.now = start + reused_until
    assert (await delegator.access_for("u", None, [Grant(A)])).access(A) == first.access(A)
    clock.now = start + exchanged_again_at
    again = await delegator.access_for("u", None, [Grant(A)])
    assert again.access(A).access_token != first.access(A).access_token
    assert len(zone.paths("/token")) == 2


async def test_a_refusal_is_remembered_for_a_few_seconds(zone, delegator_for, clock):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    delegator = delegator_for(zone)
    first = await delegator.access_for("u", None, [Grant(DENIED)])
    clock.now += 4
    second = await delegator.access_for("u", None, [Grant(DENIED)])
    assert len(zone.paths("/token")) == 1
    assert first.get_resource_errors(DENIED) == second.get_resource_errors(DENIED)
    assert second.get_resource_errors(DENIED)["oauth_error"] == "invalid_target"
    clock.now += 2  # 6 s: past the 5 s memory, asked again
    await delegator.access_for("u", None, [Grant(DENIED)])
    assert len(zone.paths("/token")) == 2


async def test_a_refusal_is_per_caller_and_never_outlives_the_callers_token(
    zone, delegator_for, clock
):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    delegator = delegator_for(zone)
    expiry = clock.now + 2
    await delegator.access_for("alice", expiry, [Grant(DENIED)])
    await delegator.access_for("bob", expiry, [Grant(DENIED)])
    assert len(zone.paths("/token")) == 2  # one user's refusal is not another's
    clock.now += 3  # past alice's exp (within the verifier's leeway): asked again
    await delegator.access_for("alice", expiry, [Grant(DENIED)])
    assert len(zone.paths("/token")) == 3


async def test_retryable_failures_are_never_remembered(zone, delegator_for):
    async def unavailable(request: Request) -> Response:
        return PlainTextResponse("busy", status_code=503)

    zone.token_handler = unavailable
    delegator = delegator_for(zone)
    first = await delegator.access_for("u", None, [Grant(A)])
    sent = len(zone.paths("/token"))
    await delegator.access_for("u", None, [Grant(A)])
    assert first.get_resource_errors(A)["retryable"] is True
    assert len(zone.paths("/token")) == 2 * sent


async def test_no_caller_token_is_a_global_error_and_sends_nothing(zone, delegator_for):
    access = await delegator_for(zone).access_for(None, None, [Grant(A)])
    assert access.has_error() and access.get_status() == "error"
    assert access.get_error()["code"] == "no_token"
    assert zone.requests == []


async def test_an_expired_caller_token_is_never_exchanged(zone, delegator_for, clock):
    access = await delegator_for(zone).access_for("u", clock.now - 31, [Grant(A)])
    assert access.get_error()["code"] == "token_expired"
    assert access.get_status() == "error"
    assert zone.requests == []


async def test_a_token_within_the_verifiers_leeway_is_still_exchanged(zone, delegator_for, clock):
    # The verifier accepts a token up to 30 s past exp; the delegator must not then refuse it.
    zone.token_handler = per_resource(token_for_resource_and_subject)
    access = await delegator_for(zone).access_for("u", clock.now - 10, [Grant(A)])
    assert access.get_status() == "success"
    strict = await delegator_for(zone, leeway=5).access_for("u", clock.now - 10, [Grant(A)])
    assert strict.get_error()["code"] == "token_expired"


async def test_every_resource_failing_without_a_global_error_is_a_partial_error(
    zone, delegator_for
):
    # 0.9.0's status: "error" only for a global error (get_error() is then never None).
    zone.token_handler = per_resource(token_for_resource_and_subject)
    access = await delegator_for(zone).access_for("u", None, [Grant(DENIED)])
    assert access.get_status() == "partial_error"
    assert access.get_successful_resources() == [] and access.get_error() is None


def test_cache_is_bounded():
    cache = ExchangeCache(max_entries=2)

    async def fill():
        for i in range(5):
            token = ExchangedToken(f"t{i}", A, expires_at=time.time() + 300)

            async def give(token=token):
                return token

            await cache.get_or_exchange(("k", i), give, not_after=None)

    asyncio.run(fill())
    assert len(cache) == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((A,), (Grant(A),)),
        (([A, B],), (Grant(A), Grant(B))),
        (([A, B], ["read"]), (Grant(A, ("read",)), Grant(B, ("read",)))),
        (([A, B], {B: ["x"]}), (Grant(A), Grant(B, ("x",)))),
    ],
)
def test_grant_arguments(args, expected):
    assert normalize_grants(*args) == expected


@pytest.mark.parametrize("bad", [[], [A, A], [""], [3]])
def test_bad_grant_arguments_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        normalize_grants(bad)


async def test_grants_differing_only_in_audience_or_target_never_share_a_token(zone, delegator_for):
    """Two tools naming one resource by different audiences (issue 15) get their own tokens."""
    zone.token_handler = per_resource(
        lambda form: (200, exchanged(f"{form.get('resource')}|{form.get('audience')}"))
    )
    delegator = delegator_for(zone)
    tokens = []
    for grant in (
        Grant(A),
        Grant(A, audience="api-1", target="audience"),
        Grant(A, audience="api-2", target="audience"),
        Grant(A, audience="api-2", target="both"),
        Grant(A, audience="api-2", target="audience"),  # the second one again: cached
    ):
        access = await delegator.access_for("user-1", None, [grant])
        tokens.append(access.access(A).access_token)
    assert tokens == [f"{A}|None", "None|api-1", "None|api-2", f"{A}|api-2", "None|api-2"]
    assert len(zone.paths("/token")) == 4
