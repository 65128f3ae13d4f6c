"""RFC 8693 exchange against the scripted authorization server, in memory (no socket).

Faults that need a real socket (slow and endless bodies) are in
tests/integration/test_exchange_http.py.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote_plus

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse

from keycard_serve import ClientSecret, TokenExchangeError
from keycard_serve._circuit import CircuitBreaker
from keycard_serve._discovery import ZoneDiscovery
from keycard_serve._exchange import TokenExchanger, parse_exchange_response
from keycard_serve._http import ClientPool, JSONResult
from tests.support.fake_zone import FakeZone, exchanged, in_memory_zone

SUBJECT = "caller.jwt.token-SENTINEL"
API = "https://api.example.test/"


@pytest.fixture
def memory_zone() -> tuple[FakeZone, ClientPool]:
    zone, transport = in_memory_zone()
    return zone, ClientPool(transport=transport)


@pytest.fixture
def zone(memory_zone) -> FakeZone:
    return memory_zone[0]


@pytest.fixture
def exchanger_for(memory_zone):
    """``exchanger_for(zone, credential=None, deadline=5, breaker=None)``, over the zone's pool."""
    _, pool = memory_zone

    def build(zone, credential=None, *, deadline: float = 5.0, breaker=None) -> TokenExchanger:
        return make_exchanger(zone, pool, credential, deadline=deadline, breaker=breaker)

    return build


def make_exchanger(zone, pool, credential=None, *, deadline=5.0, breaker=None) -> TokenExchanger:
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


async def test_request_is_rfc8693_with_form_encoded_basic_auth(zone, exchanger_for):
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


async def test_metadata_requests_never_carry_client_credentials(zone, exchanger_for):
    zone.token_handler = respond(JSONResponse(exchanged()))
    await exchanger_for(zone).exchange(SUBJECT, API)
    metadata_requests = zone.paths("/.well-known/")
    assert metadata_requests
    assert all("authorization" not in r.headers for r in metadata_requests)


async def test_oauth_error_body_is_parsed_and_not_retried(zone, exchanger_for):
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
    # The AccessContext error dict: 0.9.0's "error" is the message; the OAuth code has its own key.
    assert error.as_dict() == {
        "error": error.message,
        "message": error.message,
        "raw_error": error.message,
        "code": "invalid_target",
        "oauth_error": "invalid_target",
        "description": "no access to [redacted]",
        "status": 400,
        "resource": API,
        "retryable": False,
    }
    assert error.message.startswith(f"Token exchange failed for {API}: invalid_target")


async def test_invalid_client_is_reported_without_the_secret(zone, exchanger_for):
    zone.token_handler = respond(JSONResponse({"error": "invalid_client"}, status_code=401))
    with pytest.raises(TokenExchangeError) as raised:
        await exchanger_for(zone).exchange(SUBJECT, API)
    assert raised.value.code == "invalid_client"
    assert "p@ss" not in str(raised.value)
    assert len(zone.paths("/token")) == 1


async def test_a_5xx_is_retried_once_then_succeeds(zone, exchanger_for):
    zone.token_handler = respond(
        PlainTextResponse("busy", status_code=503), JSONResponse(exchanged())
    )
    token = await exchanger_for(zone).exchange(SUBJECT, API)
    assert token.access_token == "downstream-token"
    assert len(zone.paths("/token")) == 2


async def test_a_persistent_5xx_fails_as_retryable(zone, exchanger_for):
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


async def test_429_with_short_retry_after_is_honoured(zone, exchanger_for):
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
async def test_unusable_success_responses_fail_cleanly(zone, exchanger_for, response, reason):
    zone.token_handler = respond(response)
    with pytest.raises(TokenExchangeError, match=reason) as raised:
        await exchanger_for(zone).exchange(SUBJECT, API)
    assert raised.value.code == "invalid_response"
    assert SUBJECT not in str(raised.value)


async def test_lowercase_bearer_is_accepted_and_lifetime_clamped(zone, exchanger_for):
    zone.token_handler = respond(JSONResponse(exchanged(token_type="bearer", expires_in=10**9)))
    token = await exchanger_for(zone).exchange(SUBJECT, API)
    assert token.token_type == "Bearer"
    assert token.expires_in == 24 * 3600


async def test_redirects_are_never_followed(zone, exchanger_for):
    zone.token_handler = respond(RedirectResponse("http://127.0.0.1:9/steal", status_code=307))
    with pytest.raises(TokenExchangeError) as raised:
        await exchanger_for(zone).exchange(SUBJECT, API)
    assert raised.value.code == "redirect"
    assert len(zone.paths("/token")) == 1


async def test_a_failing_token_endpoint_opens_the_circuit(zone, exchanger_for):
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


async def test_oauth_errors_do_not_open_the_circuit(zone, exchanger_for):
    exchanger = exchanger_for(zone, breaker=CircuitBreaker(threshold=2))
    zone.token_handler = respond(JSONResponse({"error": "invalid_target"}, status_code=400))
    for _ in range(4):
        with pytest.raises(TokenExchangeError) as raised:
            await exchanger.exchange(SUBJECT, API)
        assert raised.value.code == "invalid_target"


def test_the_response_parser_is_pure_and_stamps_expiry_from_the_given_time():
    result = JSONResult(200, httpx.Headers(), exchanged(expires_in=300), "")
    token = parse_exchange_response(result, API, (), SUBJECT, now=1_000.0)
    again = parse_exchange_response(result, API, (), SUBJECT, now=1_000.0)
    assert token == again
    assert (token.expires_in, token.expires_at) == (300, 1_300.0)


@pytest.mark.parametrize("expires_in", [None, 0, -5, "300", True])
def test_a_missing_or_invalid_lifetime_leaves_the_expiry_unknown(expires_in):
    body = exchanged()
    if expires_in is None:
        del body["expires_in"]
    else:
        body["expires_in"] = expires_in
    token = parse_exchange_response(
        JSONResult(200, httpx.Headers(), body, ""), API, (), SUBJECT, now=1.0
    )
    assert (token.expires_in, token.expires_at) == (None, None)


async def test_the_exchanger_reads_its_injected_clock(zone, memory_zone):
    zone.token_handler = respond(JSONResponse(exchanged(expires_in=120)))
    exchanger = TokenExchanger(
        ZoneDiscovery(zone.issuer, memory_zone[1].get).metadata,
        ClientSecret(("mcp", "s")),
        memory_zone[1].get,
        clock=lambda: 50_000.0,
    )
    token = await exchanger.exchange(SUBJECT, API)
    assert token.expires_at == 50_120.0
