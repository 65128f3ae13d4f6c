"""Authorization-server metadata discovery, on the in-memory fake zone (no socket)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from keycard_serve import DiscoveryError
from keycard_serve._discovery import ZoneDiscovery, metadata_candidates
from keycard_serve._http import ClientPool
from tests.support.fake_zone import FakeZone, in_memory_zone


@pytest.fixture
def memory() -> tuple[FakeZone, ClientPool]:
    zone, transport = in_memory_zone()
    return zone, ClientPool(transport=transport)


@pytest.fixture
def zone(memory: tuple[FakeZone, ClientPool]) -> FakeZone:
    return memory[0]


@pytest.fixture
def clients(memory: tuple[FakeZone, ClientPool]) -> ClientPool:
    return memory[1]


def test_candidates_follow_rfc8414_then_oidc_for_issuers_with_a_path():
    assert metadata_candidates("https://as.example/tenant1") == [
        "https://as.example/.well-known/oauth-authorization-server/tenant1",
        "https://as.example/.well-known/openid-configuration/tenant1",
        "https://as.example/tenant1/.well-known/openid-configuration",
    ]
    assert metadata_candidates("https://as.example") == [
        "https://as.example/.well-known/oauth-authorization-server",
        "https://as.example/.well-known/openid-configuration",
    ]


async def test_discovers_and_caches(zone, clients):
    discovery = ZoneDiscovery(zone.issuer, clients.get)
    first = await discovery.metadata()
    second = await discovery.metadata()
    assert first is second
    assert first.token_endpoint == f"{zone.issuer}/token"
    assert len(zone.paths("/.well-known/")) == 1


async def test_concurrent_first_uses_share_one_fetch(zone, clients):
    discovery = ZoneDiscovery(zone.issuer, clients.get)
    results = await asyncio.gather(*(discovery.metadata() for _ in range(50)))
    assert len({id(result) for result in results}) == 1
    assert len(zone.paths("/.well-known/")) == 1


async def test_falls_back_to_openid_configuration(zone, clients):
    async def only_oidc(request: Request) -> Response:
        if "openid" in request.url.path:
            return JSONResponse(zone.metadata())
        return PlainTextResponse("Not Found", status_code=404)

    zone.metadata_handler = only_oidc
    metadata = await ZoneDiscovery(zone.issuer, clients.get).metadata()
    assert metadata.source_url.endswith("/.well-known/openid-configuration")


def serve_metadata_with(zone, **changes: str) -> None:
    """Make the zone answer discovery with its metadata, ``changes`` applied."""

    async def changed(request: Request) -> Response:
        return JSONResponse({**zone.metadata(), **changes})

    zone.metadata_handler = changed


async def test_refuses_metadata_naming_another_issuer(zone, clients):
    serve_metadata_with(zone, issuer="https://evil.example")
    with pytest.raises(DiscoveryError) as raised:
        await ZoneDiscovery(zone.issuer, clients.get).metadata()
    assert raised.value.code == "issuer_mismatch"
    assert "https://evil.example" in raised.value.message


async def test_a_trailing_slash_on_the_issuer_is_tolerated(zone, clients):
    serve_metadata_with(zone, issuer=zone.issuer + "/")
    metadata = await ZoneDiscovery(zone.issuer, clients.get).metadata()
    assert metadata.issuer == zone.issuer + "/"  # kept verbatim: tokens must match it exactly


async def test_refuses_plain_http_endpoints_on_other_hosts(zone, clients):
    serve_metadata_with(zone, token_endpoint="http://as.example/token")
    with pytest.raises(DiscoveryError) as raised:
        await ZoneDiscovery(zone.issuer, clients.get).metadata()
    assert raised.value.code == "invalid_token_endpoint"


async def test_transient_5xx_is_retried(zone, clients):
    answers = [PlainTextResponse("down", status_code=503)]

    async def flaky(request: Request) -> Response:
        return answers.pop() if answers else JSONResponse(zone.metadata())

    zone.metadata_handler = flaky
    metadata = await ZoneDiscovery(zone.issuer, clients.get).metadata()
    assert metadata.issuer == zone.issuer
    assert len(zone.paths("/.well-known/oauth-authorization-server")) == 2


async def test_an_expired_cache_survives_a_failed_refresh(zone, clients):
    now = [0.0]
    discovery = ZoneDiscovery(zone.issuer, clients.get, ttl=60, clock=lambda: now[0])
    first = await discovery.metadata()

    async def broken(request: Request) -> Response:
        return PlainTextResponse("Not Found", status_code=404)

    zone.metadata_handler = broken
    now[0] = 120.0
    assert await discovery.metadata() is first
    fetches = len(zone.paths("/.well-known/"))
    assert await discovery.metadata() is first  # backing off: no refetch storm
    assert len(zone.paths("/.well-known/")) == fetches


async def test_unreachable_zone_fails_with_every_url_tried():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    clients = ClientPool(transport=httpx.MockTransport(refuse))
    discovery = ZoneDiscovery("https://zone.test", clients.get, timeout=5)
    with pytest.raises(DiscoveryError) as raised:
        await discovery.metadata()
    assert raised.value.code == "metadata_unavailable"
    assert "oauth-authorization-server" in raised.value.message
    assert "openid-configuration" in raised.value.message


async def test_a_hanging_zone_costs_one_deadline_and_its_failure_is_remembered(zone, clients):
    """Finding 2: one overall deadline for every candidate URL and retry; then the failure is
    answered from memory for failure_ttl seconds, and the zone is asked again after it."""
    release = asyncio.Event()

    async def hang(request: Request) -> Response:
        await release.wait()
        return JSONResponse(zone.metadata())

    zone.metadata_handler = hang
    now = [0.0]
    discovery = ZoneDiscovery(
        zone.issuer, clients.get, timeout=0.3, failure_ttl=2.0, clock=lambda: now[0]
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DiscoveryError) as raised:
        await discovery.metadata()
    assert raised.value.code == "metadata_timeout"
    assert loop.time() - started < 1.0  # not 3 attempts x 2 URLs x the timeout
    asked = len(zone.paths("/.well-known/"))
    now[0] = 1.9
    with pytest.raises(DiscoveryError) as again:
        await discovery.metadata()
    assert again.value.code == "metadata_timeout"
    assert len(zone.paths("/.well-known/")) == asked  # from memory: the zone was not asked
    zone.metadata_handler = None
    now[0] = 2.1
    assert (await discovery.metadata()).issuer == zone.issuer
    release.set()
