"""RFC 8693 exchange against a scripted authorization server on loopback (section 2b faults)."""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import unquote_plus

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse

from keycard_serve import ClientSecret, TokenExchangeError
from keycard_serve._circuit import CircuitBreaker
from keycard_serve._discovery import ZoneDiscovery
from keycard_serve._exchange import TokenExchanger
from keycard_serve._http import ClientPool
from tests.support.fake_zone import exchanged, run_fake_zone

SUBJECT = "caller.jwt.token-SENTINEL"
API = "https://api.example.test/"


@pytest.fixture
def zone():
    with run_fake_zone() as zone:
        yield zone


def exchanger_for(zone, credential=None, *, deadline: float = 5.0, breaker=None) -> TokenExchanger:
    pool = ClientPool()
    discovery = ZoneDiscovery(zone.issuer, pool.get)
    credential = credential or ClientSecret(("mcp:special", "p@ss:w%rd+ /x"))
    return TokenExchanger(
        discovery.metadata, credential, pool.get, deadline=deadline, breaker=breaker
    )


def respond(*responses):
    """A token handler answering with ``responses`` in turn (the last one repeats)."""
    queue = list(responses)

    async def handler(request: Request):
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


async def test_request_is_rfc8693_with_form_encoded_basic_auth(zone):
    zone.token_handler = respond(JSONResponse(exchanged(scope="mail.read")))
    token = await exchanger_for(zone).exchange(SUBJECT, API, ["mail.read"])

    assert token.access_token == "downstream-token"
    assert token.resource == API
    assert token.scope == ("mail.read",)
    [sent] = zone.paths("/token")
    assert sent.form == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": SUBJECT,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "resource": API,
        "scope": "mail.read",
    }
    scheme, encoded = sent.headers["authorization"].split(" ")
    client_id, secret = base64.b64decode(encoded).decode().split(":")
    assert scheme == "Basic"
    assert (unquote_plus(client_id), unquote_plus(secret)) == ("mcp:special", "p@ss:w%rd+ /x")
    assert ":" not in client_id  # the colon of the id is encoded, not ambiguous


async def test_metadata_requests_never_carry_client_credentials(zone):
    zone.token_handler = respond(JSONResponse(exchanged()))
    await exchanger_for(zone).exchange(SUBJECT, API)
    metadata_requests = zone.paths("/.well-known/")
    assert metadata_requests
    assert all("authorization" not in r.headers for r in metadata_requests)


async def test_oauth_error_body_is_parsed_and_not_retried(zone):
    zone.token_handler = respond(
        JSONResponse(
            {"error": "invalid_target", "error_description": f"no access to {SUBJECT}"},
            status_code=400,
        )
    )
    with pytest.raises(TokenExchangeError) as raised:
        await exchanger_for(zone).exchange(SUBJECT, API)
    error = raised.value
    assert (error.code, error.error, error.status, error.retryable) == (
        "invalid_target",
        "invalid_target",
        400,
        False,
    )
    assert SUBJECT not in str(error) and SUBJECT not in repr(error.as_dict())
    assert len(zone.paths("/token")) == 1


async def test_invalid_client_is_reported_without_the_secret(zone):
    zone.token_handler = respond(JSONResponse({"error": "invalid_client"}, status_code=401))
    with pytest.raises(TokenExchangeError) as raised:
        await exchanger_for(zone).exchange(SUBJECT, API)
    assert raised.value.code == "invalid_client"
    assert "p@ss" not in str(raised.value)
    assert len(zone.paths("/token")) == 1


async def test_a_5xx_is_retried_once_then_succeeds(zone):
    zone.token_handler = respond(
        PlainTextResponse("busy", status_code=503), JSONResponse(exchanged())
    )
    token = await exchanger_for(zone).exchange(SUBJECT, API)
    assert token.access_token == "downstream-token"
    assert len(zone.paths("/token")) == 2


async def test_a_persistent_5xx_fails_as_retryable(zone):
    zone.token_handler = respond(PlainTextResponse("<html>oops</html>", status_code=502))
    with pytest.raises(TokenExchangeError) as raised:
        await exchanger_for(zone).exchange(SUBJECT, API)
    assert (raised.value.code, raised.value.status, raised.value.retryable) == (
        "http_error",
        502,
        True,
    )
    assert "<html>oops</html>" in str(raised.value)
    assert len(zone.paths("/token")) == 2


async def test_429_with_short_retry_after_is_honoured(zone):
    zone.token_handler = respond(
        JSONResponse({"error": "slow_down"}, status_code=429, headers={"Retry-After": "1"}),
        JSONResponse(exchanged()),
    )
    token = await exchanger_for(zone).exchange(SUBJECT, API)
    assert token.access_token == "downstream-token"


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (PlainTextResponse("<html>login</html>"), "without a JSON object"),
        (JSONResponse(["not", "an", "object"]), "without a JSON object"),
        (JSONResponse(exchanged(access_token="")), "no access_token"),
        (JSONResponse({"issued_token_type": "x", "token_type": "Bearer"}), "no access_token"),
        (JSONResponse(exchanged(token_type="DPoP")), "is not Bearer"),
        (JSONResponse(exchanged(token_type="N_A")), "is not Bearer"),
        (
            JSONResponse(exchanged(issued_token_type="urn:ietf:params:oauth:token-type:id_token")),
            "not an access token",
        ),
        (JSONResponse(exchanged(token=SUBJECT)), "caller's own token"),
    ],
)
async def test_unusable_success_responses_fail_cleanly(zone, response, reason):
    zone.token_handler = respond(response)
    with pytest.raises(TokenExchangeError, match=reason) as raised:
        await exchanger_for(zone).exchange(SUBJECT, API)
    assert raised.value.code == "invalid_response"
    assert SUBJECT not in str(raised.value)


async def test_lowercase_bearer_is_accepted_and_lifetime_clamped(zone):
    zone.token_handler = respond(JSONResponse(exchanged(token_type="bearer", expires_in=10**9)))
    token = await exchanger_for(zone).exchange(SUBJECT, API)
    assert token.token_type == "Bearer"
    assert token.expires_in == 24 * 3600


async def test_redirects_are_never_followed(zone):
    zone.token_handler = respond(RedirectResponse("http://127.0.0.1:9/steal", status_code=307))
    with pytest.raises(TokenExchangeError) as raised:
        await exchanger_for(zone).exchange(SUBJECT, API)
    assert raised.value.code == "redirect"
    assert len(zone.paths("/token")) == 1


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


async def test_a_failing_token_endpoint_opens_the_circuit(zone):
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, reset_after=10, clock=lambda: now[0])
    exchanger = exchanger_for(zone, breaker=breaker)
    zone.token_handler = respond(PlainTextResponse("down", status_code=503))
    for _ in range(3):
        with pytest.raises(TokenExchangeError):
            await exchanger.exchange(SUBJECT, API)
    sent = len(zone.paths("/token"))
    with pytest.raises(TokenExchangeError) as raised:
        await exchanger.exchange(SUBJECT, API)
    assert (raised.value.code, raised.value.retryable) == ("zone_unavailable", True)
    assert len(zone.paths("/token")) == sent  # failed at once, nothing sent

    zone.token_handler = respond(JSONResponse(exchanged()))
    now[0] += 10  # one trial call goes through, succeeds, and closes the circuit
    assert (await exchanger.exchange(SUBJECT, API)).access_token == "downstream-token"
    assert (await exchanger.exchange(SUBJECT, API)).access_token == "downstream-token"


async def test_oauth_errors_do_not_open_the_circuit(zone):
    exchanger = exchanger_for(zone, breaker=CircuitBreaker(threshold=2))
    zone.token_handler = respond(JSONResponse({"error": "invalid_target"}, status_code=400))
    for _ in range(4):
        with pytest.raises(TokenExchangeError) as raised:
            await exchanger.exchange(SUBJECT, API)
        assert raised.value.code == "invalid_target"
