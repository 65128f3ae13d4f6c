"""Concurrent, cached, failure-isolating exchanges behind the grant decorator."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keycard_serve import ClientSecret, ExchangedToken
from keycard_serve._delegation import Delegator, Grant, normalize_grants
from keycard_serve._discovery import ZoneDiscovery
from keycard_serve._exchange import TokenExchanger
from keycard_serve._exchange_cache import ExchangeCache
from keycard_serve._http import ClientPool
from tests.support.fake_zone import exchanged, run_fake_zone

A, B, DENIED = "https://a.example/", "https://b.example/", "https://denied.example/"


@pytest.fixture
def zone():
    with run_fake_zone() as zone:
        yield zone


def delegator_for(zone, cache: ExchangeCache | None = None) -> Delegator:
    pool = ClientPool()
    discovery = ZoneDiscovery(zone.issuer, pool.get)
    exchanger = TokenExchanger(discovery.metadata, ClientSecret(("mcp", "s")), pool.get)
    return Delegator(exchanger, ExchangeCache() if cache is None else cache)


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


async def test_every_success_is_kept_when_one_resource_fails(zone):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    grants = [Grant(A), Grant(DENIED), Grant(B)]
    access = await delegator_for(zone).access_for("user-1", None, grants)

    assert access.get_status() == "partial_error"
    assert access.access(A).access_token == f"user-1@{A}"
    assert access.access(B).access_token == f"user-1@{B}"
    assert access.get_resource_errors(DENIED)["code"] == "invalid_target"
    assert access.get_resource_errors(DENIED)["resource"] == DENIED
    assert len(zone.paths("/token")) == 3


async def test_exchanges_for_several_resources_are_in_flight_together(zone):
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


async def test_identical_calls_share_one_exchange(zone):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    delegator = delegator_for(zone)
    results = await asyncio.gather(
        *(delegator.access_for("user-1", None, [Grant(A)]) for _ in range(20))
    )
    again = await delegator.access_for("user-1", None, [Grant(A)])
    tokens = {r.access(A).access_token for r in [*results, again]}
    assert tokens == {f"user-1@{A}"}
    assert len(zone.paths("/token")) == 1


async def test_users_never_share_cached_tokens(zone):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    delegator = delegator_for(zone)
    alice = await delegator.access_for("alice-token", None, [Grant(A)])
    bob = await delegator.access_for("bob-token", None, [Grant(A)])
    assert alice.access(A).access_token == f"alice-token@{A}"
    assert bob.access(A).access_token == f"bob-token@{A}"
    assert len(zone.paths("/token")) == 2


async def test_requested_scopes_are_part_of_the_cache_key(zone):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    delegator = delegator_for(zone)
    await delegator.access_for("u", None, [Grant(A, ("read",))])
    await delegator.access_for("u", None, [Grant(A, ("write",))])
    assert [r.form["scope"] for r in zone.paths("/token")] == ["read", "write"]


async def test_cached_tokens_are_not_reused_past_the_callers_expiry(zone):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    now = [time.time()]
    delegator = delegator_for(zone, ExchangeCache(skew=30, clock=lambda: now[0]))
    caller_expiry = now[0] + 100  # downstream tokens live 300 s, the caller's only 100 s
    await delegator.access_for("u", caller_expiry, [Grant(A)])
    now[0] += 60
    await delegator.access_for("u", caller_expiry, [Grant(A)])
    assert len(zone.paths("/token")) == 1
    now[0] += 15  # 75 s in: within the 30 s skew of the caller's expiry
    await delegator.access_for("u", caller_expiry, [Grant(A)])
    assert len(zone.paths("/token")) == 2


async def test_failures_are_not_cached(zone):
    zone.token_handler = per_resource(token_for_resource_and_subject)
    delegator = delegator_for(zone)
    await delegator.access_for("u", None, [Grant(DENIED)])
    await delegator.access_for("u", None, [Grant(DENIED)])
    assert len(zone.paths("/token")) == 2


async def test_no_caller_token_is_a_global_error_and_sends_nothing(zone):
    access = await delegator_for(zone).access_for(None, None, [Grant(A)])
    assert access.has_error() and access.get_status() == "error"
    assert access.get_error()["code"] == "no_token"
    assert zone.requests == []


async def test_an_expired_caller_token_is_never_exchanged(zone):
    access = await delegator_for(zone).access_for("u", time.time() - 1, [Grant(A)])
    assert access.get_error()["code"] == "token_expired"
    assert zone.requests == []


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
