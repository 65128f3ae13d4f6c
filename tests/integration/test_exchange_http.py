"""Token-exchange faults that need a real socket: bodies that never end or trickle in.

The fake zone runs on loopback (port 0) here; the other exchange tests run in memory
(tests/test_exchange.py).
"""

import asyncio

import pytest
from starlette.requests import Request
from starlette.responses import StreamingResponse

from keycard_serve import ClientSecret, TokenExchangeError
from keycard_serve._discovery import ZoneDiscovery
from keycard_serve._exchange import TokenExchanger
from keycard_serve._http import ClientPool
from tests.support.fake_zone import run_fake_zone

SUBJECT = "caller.jwt.token-SENTINEL"
API = "https://api.example.test/"


@pytest.fixture
def zone():
    with run_fake_zone() as zone:
        yield zone


def exchanger_for(zone, *, deadline: float = 5.0) -> TokenExchanger:
    pool = ClientPool()
    discovery = ZoneDiscovery(zone.issuer, pool.get)
    return TokenExchanger(
        discovery.metadata, ClientSecret(("mcp", "s")), pool.get, deadline=deadline
    )


def respond(response):
    async def handler(request: Request):
        return response

    return handler


async def test_a_huge_body_is_cut_off(zone):
    async def endless():
        chunk = b" " * 65536
        for _ in range(2000):  # 128 MiB if nobody stops reading
            yield chunk

    zone.token_handler = respond(StreamingResponse(endless(), media_type="application/json"))
    with pytest.raises(TokenExchangeError) as raised:
        await exchanger_for(zone).exchange(SUBJECT, API)
    assert raised.value.code == "too_large"


async def test_a_slow_body_hits_the_overall_deadline(zone):
    async def trickle():
        for _ in range(30):
            yield b" "
            await asyncio.sleep(0.2)

    zone.token_handler = respond(StreamingResponse(trickle(), media_type="application/json"))
    with pytest.raises(TokenExchangeError) as raised:
        await exchanger_for(zone, deadline=1.0).exchange(SUBJECT, API)
    assert raised.value.code == "timeout"
    assert raised.value.retryable
