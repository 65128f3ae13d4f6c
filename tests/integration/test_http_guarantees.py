"""Documented guarantees of the inbound path, over real HTTP the way a client meets them.

- Every spelling of the base URL and the endpoint path behaves the same: 401 with a
  ``resource_metadata`` that answers 200, PRM at every documented URL, 403 step-up, audiences.
- "Could not check" is never "invalid": zone down, JWKS 5xx or timing out, malformed metadata
  give 503 with ``Retry-After``; only a token checked and found bad gets 401.
- The 30 s leeway holds end to end.

The zone is the fake one on loopback: it is what lets a test take the zone down or break it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastmcp import Context, FastMCP
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keycard_serve import AuthProvider
from keycard_serve.launcher.scope_guard import ToolScopeGuard
from tests.support.fake_zone import FakeZone, run_fake_zone
from tests.support.fake_zone import exchanged as _exchanged
from tests.support.keys import public_jwk, rsa_key, sign
from tests.support.servers import bound_socket, serve_asgi

KEY = rsa_key()
ACCEPT = {"Accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
CALL_SYNC = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "sync", "arguments": {}},
}


@dataclass(frozen=True)
class Served:
    local: str  # "http://127.0.0.1:PORT", where requests actually go
    route: str  # the MCP route as FastMCP mounted it
    endpoint: str  # the canonical MCP endpoint URL the server must advertise

    def url(self, public_url: str) -> str:
        """Where a public URL of this server is reached locally (same path)."""
        return self.local + urlsplit(public_url).path

    def post(self, token: str | None = None, body: Any = PING) -> httpx.Response:
        headers = dict(ACCEPT)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(self.local + self.route, headers=headers, json=body, timeout=30)


@contextlib.contextmanager
def serve(
    zone_url: str, base_url: str, path: str, *, endpoint: str, required: tuple[str, ...] = ()
) -> Iterator[Served]:
    """A FastMCP server protected by the library's AuthProvider, with the tool-scope guard."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    provider = AuthProvider(
        zone_url=zone_url,
        mcp_server_name="Guarantees",
        mcp_base_url=base_url.format(port=port),
        required_scopes=list(required),
    )
    auth = provider.get_remote_auth_provider()
    mcp = FastMCP("Guarantees", auth=auth)

    @mcp.tool()
    def sync() -> str:
        return "synced"

    guard = Middleware(
        ToolScopeGuard,
        path=path,
        required_scopes=lambda name: ["calendar:write"] if name == "sync" else [],
        challenge=auth.insufficient_scope_challenge,
    )
    app = mcp.http_app(path=path, middleware=[guard], stateless_http=True, json_response=True)
    with serve_asgi(app, sock=sock) as local:
        yield Served(local, path, endpoint.format(port=port))


@pytest.fixture(scope="module")
def zone() -> Iterator[FakeZone]:
    with run_fake_zone() as zone:
        zone.jwks = {"keys": [public_jwk(KEY, "rsa-1", alg="RS256")]}
        yield zone


@pytest.fixture
def healthy(zone: FakeZone) -> Iterator[FakeZone]:
    zone.metadata_handler = zone.jwks_handler = None
    yield zone
    zone.metadata_handler = zone.jwks_handler = None


def token(issuer: str, audience: str, *, scope: str = "mcp:tools", exp_in: float = 300) -> str:
    now = time.time()
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": "alice",
        "client_id": "client",
        "iat": int(now - 60),
        "exp": int(now + exp_in),
        "scope": scope,
    }
    return sign(claims, KEY)


def resource_metadata(challenge: str) -> str:
    return challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]


SPELLINGS = [
    # (base_url, server path, canonical endpoint URL, its RFC 9728 metadata URL, base's)
    (
        "http://127.0.0.1:{port}/",
        "/mcp",
        "http://127.0.0.1:{port}/mcp",
        "http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp",
        "http://127.0.0.1:{port}/.well-known/oauth-protected-resource",
    ),
    (
        "http://127.0.0.1:{port}",
        "/mcp/",
        "http://127.0.0.1:{port}/mcp",
        "http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp",
        "http://127.0.0.1:{port}/.well-known/oauth-protected-resource",
    ),
    (
        "HTTP://LocalHost:{port}/",
        "/",
        "http://localhost:{port}/",
        "http://localhost:{port}/.well-known/oauth-protected-resource",
        "http://localhost:{port}/.well-known/oauth-protected-resource",
    ),
    (
        "https://mcp.example.com:443/",
        "/mcp",
        "https://mcp.example.com/mcp",
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
        "https://mcp.example.com/.well-known/oauth-protected-resource",
    ),
    (
        "https://MCP.example.com:443",
        "/",
        "https://mcp.example.com/",
        "https://mcp.example.com/.well-known/oauth-protected-resource",
        "https://mcp.example.com/.well-known/oauth-protected-resource",
    ),
    (
        "https://mcp.example.com/tenant/",
        "/tenant/mcp",  # mounted at its public path: the proxy forwards paths unchanged
        "https://mcp.example.com/tenant/mcp",
        "https://mcp.example.com/.well-known/oauth-protected-resource/tenant/mcp",
        "https://mcp.example.com/.well-known/oauth-protected-resource/tenant",
    ),
]


@pytest.mark.parametrize(("base_url", "path", "endpoint", "prm", "base_prm"), SPELLINGS)
def test_every_spelling_behaves_the_same(
    healthy: FakeZone, base_url: str, path: str, endpoint: str, prm: str, base_prm: str
):
    with serve(healthy.issuer, base_url, path, endpoint=endpoint, required=("mcp:tools",)) as s:
        port = urlsplit(s.local).port
        prm, base_prm = prm.format(port=port), base_prm.format(port=port)
        base = s.endpoint if s.endpoint.endswith("/") else s.endpoint.rsplit("/", 1)[0] + "/"
        # 401 without a token, pointing at metadata that answers 200 for the canonical URL.
        challenged = s.post()
        assert challenged.status_code == 401
        metadata_url = resource_metadata(challenged.headers["www-authenticate"])
        assert metadata_url == prm
        appended = s.endpoint.rstrip("/") + "/.well-known/oauth-protected-resource"
        for url in (prm, appended):
            answer = httpx.get(s.url(url))
            assert answer.status_code == 200, url
            assert answer.json()["resource"] == s.endpoint
        answer = httpx.get(s.url(base_prm))
        assert answer.status_code == 200
        assert answer.json()["resource"] == base
        # A token for the canonical endpoint URL passes; the same token lacking the required
        # scope gets 403 insufficient_scope pointing at the same metadata.
        good = s.post(token(healthy.issuer, s.endpoint))
        assert good.status_code == 200, good.text
        weak = s.post(token(healthy.issuer, s.endpoint, scope="other"))
        assert weak.status_code == 403
        assert 'error="insufficient_scope"' in weak.headers["www-authenticate"]
        assert resource_metadata(weak.headers["www-authenticate"]) == metadata_url
        # A tool needing a scope the token lacks: 403 step-up, whatever the path spelling.
        step_up = s.post(token(healthy.issuer, s.endpoint), body=CALL_SYNC)
        assert step_up.status_code == 403, step_up.text
        assert 'scope="mcp:tools calendar:write"' in step_up.headers["www-authenticate"]
        assert resource_metadata(step_up.headers["www-authenticate"]) == metadata_url
        both = token(healthy.issuer, s.endpoint, scope="mcp:tools calendar:write")
        assert "synced" in s.post(both, body=CALL_SYNC).text
        # A token for another resource is refused as invalid.
        elsewhere = s.post(token(healthy.issuer, "https://other.example/mcp"))
        assert elsewhere.status_code == 401
        assert 'error="invalid_token"' in elsewhere.headers["www-authenticate"]


def test_a_default_port_base_url_accepts_tokens_for_the_portless_url(healthy: FakeZone):
    """Issue 9 #3: the SDK, FastMCP's client and browsers drop :443."""
    with serve(
        healthy.issuer,
        "https://mcp.example.com:443/",
        "/mcp",
        endpoint="https://mcp.example.com/mcp",
    ) as s:
        assert s.post(token(healthy.issuer, "https://mcp.example.com/mcp")).status_code == 200
        assert s.post(token(healthy.issuer, "https://mcp.example.com/")).status_code == 200


# -- could not check is never invalid -----------------------------------------------------------


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"] == "temporarily_unavailable"
    assert "invalid_token" not in response.headers.get("www-authenticate", "")


def test_a_zone_down_at_start_gives_503_not_401():
    closed = bound_socket()  # bound, never listening: connections are refused
    zone_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    try:
        with serve(zone_url, "http://127.0.0.1:{port}/", "/mcp", endpoint="") as s:
            endpoint = s.local + "/mcp"
            assert_unavailable(s.post(token(zone_url, endpoint)))
            # Without a token there is nothing to check: the usual 401 challenge.
            assert s.post().status_code == 401
            # The metadata still answers, so clients keep their bearings.
            prm = httpx.get(s.local + "/.well-known/oauth-protected-resource/mcp")
            assert prm.status_code == 200
    finally:
        closed.close()


def face_value_refusals(zone_url: str, endpoint: str) -> dict[str, str]:
    """Tokens bad on their face: refused without the zone's metadata or keys."""
    return {
        "garbage": "garbage",
        "not-base64": "a.b.c",
        "expired": token(zone_url, endpoint, exp_in=-120),
        "wrong-issuer": token("https://attacker.example", endpoint),
        "wrong-audience": token(zone_url, "https://other.example/mcp"),
    }


def assert_invalid(response: httpx.Response, name: str) -> None:
    assert response.status_code == 401, (name, response.text)
    assert 'error="invalid_token"' in response.headers["www-authenticate"], name


def test_a_token_bad_on_its_face_gets_401_while_the_zone_is_down():
    """Finding 1: only what needs the zone may be 503; garbage and expired stay 401."""
    closed = bound_socket()  # bound, never listening: connections are refused
    zone_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    try:
        with serve(zone_url, "http://127.0.0.1:{port}/", "/mcp", endpoint="") as s:
            for name, bad in face_value_refusals(zone_url, s.local + "/mcp").items():
                assert_invalid(s.post(bad), name)
            assert_unavailable(s.post(token(zone_url, s.local + "/mcp")))
    finally:
        closed.close()


def test_a_token_bad_on_its_face_gets_401_while_the_keys_cannot_be_fetched(healthy: FakeZone):
    healthy.jwks_handler = _status_500
    with serve(healthy.issuer, "http://127.0.0.1:{port}/", "/mcp", endpoint="") as s:
        for name, bad in face_value_refusals(healthy.issuer, s.local + "/mcp").items():
            assert_invalid(s.post(bad), name)
        assert_unavailable(s.post(token(healthy.issuer, s.local + "/mcp")))


async def _status_500(request: Request) -> Response:
    return Response("upstream exploded", status_code=500)


async def _malformed_metadata(request: Request) -> Response:
    return JSONResponse({"issuer": str(request.base_url).rstrip("/"), "jwks_uri": 42})


async def _not_json(request: Request) -> Response:
    return Response("<html>maintenance</html>", media_type="text/html")


async def _not_found(request: Request) -> Response:
    return Response("Not Found", status_code=404)


async def _redirect(request: Request) -> Response:
    return Response(status_code=302, headers={"Location": "https://elsewhere.example/jwks"})


async def _keys_not_a_list(request: Request) -> Response:
    return JSONResponse({"keys": 42})


async def _no_usable_key(request: Request) -> Response:
    return JSONResponse({"keys": [{"kty": "oct", "kid": "rsa-1", "k": "c2VjcmV0"}]})


@pytest.mark.parametrize(
    ("metadata", "jwks"),
    [
        (None, _status_500),
        (None, _not_json),
        (None, _not_found),
        (None, _redirect),
        (None, _keys_not_a_list),
        (None, _no_usable_key),
        (_status_500, None),
        (_malformed_metadata, None),
        (_not_json, None),
    ],
    ids=[
        "jwks-500",
        "jwks-not-json",
        "jwks-404",
        "jwks-redirect",
        "jwks-keys-42",
        "jwks-no-usable-key",
        "metadata-500",
        "metadata-malformed",
        "metadata-not-json",
    ],
)
def test_a_broken_zone_gives_503_and_recovers(healthy: FakeZone, metadata, jwks):
    healthy.metadata_handler, healthy.jwks_handler = metadata, jwks
    with serve(healthy.issuer, "http://127.0.0.1:{port}/", "/mcp", endpoint="") as s:
        good = token(healthy.issuer, s.local + "/mcp")
        assert_unavailable(s.post(good))
        healthy.metadata_handler = healthy.jwks_handler = None
        deadline = time.monotonic() + 10  # discovery retries at once; JWKS after its 2 s pause
        while (answer := s.post(good)).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert answer.status_code == 200
        # Checked and bad is still 401.
        assert s.post(good[:-4] + "AAAA").status_code == 401


def test_an_outage_is_logged_once_and_its_503_exposes_retry_after(healthy: FakeZone, caplog):
    """Finding 7: a browser client can read Retry-After; one error line per outage, and one
    line when it ends, not one per request."""
    healthy.metadata_handler = _status_500
    caplog.set_level(logging.DEBUG, logger="keycard_serve.auth")
    with serve(healthy.issuer, "http://127.0.0.1:{port}/", "/mcp", endpoint="") as s:
        good = token(healthy.issuer, s.local + "/mcp")
        origin = {**ACCEPT, "Authorization": f"Bearer {good}", "Origin": s.local}
        for _ in range(3):
            answer = httpx.post(s.local + "/mcp", headers=origin, json=PING, timeout=30)
            assert_unavailable(answer)
            exposed = answer.headers["access-control-expose-headers"].lower()
            assert "retry-after" in exposed
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        healthy.metadata_handler = None
        deadline = time.monotonic() + 10
        while (answer := s.post(good)).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert answer.status_code == 200
        assert "verified again" in caplog.text
        assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_a_jwks_that_times_out_gives_503(healthy: FakeZone):
    release = asyncio.Event()

    async def hang(request: Request) -> Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 30)
        return JSONResponse(healthy.jwks)

    healthy.jwks_handler = hang
    with serve(healthy.issuer, "http://127.0.0.1:{port}/", "/mcp", endpoint="") as s:
        started = time.monotonic()
        assert_unavailable(s.post(token(healthy.issuer, s.local + "/mcp")))
        assert time.monotonic() - started < 15  # the JWKS deadline (5 s), not the hang


def test_a_hanging_zone_gives_503_within_the_deadline_and_the_next_request_fast(
    healthy: FakeZone,
):
    """Finding 2: one discovery deadline (5 s), not 3 attempts x 5 s x 2 URLs; the failure is
    remembered for a moment, so the next request does not wait again."""
    release = asyncio.Event()

    async def hang(request: Request) -> Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 60)
        return JSONResponse(healthy.metadata())

    healthy.metadata_handler = hang
    with serve(healthy.issuer, "http://127.0.0.1:{port}/", "/mcp", endpoint="") as s:
        good = token(healthy.issuer, s.local + "/mcp")
        started = time.monotonic()
        assert_unavailable(s.post(good))
        assert time.monotonic() - started < 8
        started = time.monotonic()
        assert_unavailable(s.post(good))
        assert time.monotonic() - started < 1.5


# -- leeway ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("exp_in", "status"), [(-10, 200), (-40, 401)])
def test_the_30_second_leeway_holds_over_http(healthy: FakeZone, exp_in: float, status: int):
    with serve(healthy.issuer, "http://127.0.0.1:{port}/", "/mcp", endpoint="") as s:
        response = s.post(token(healthy.issuer, s.local + "/mcp", exp_in=exp_in))
        assert response.status_code == status, response.text


def test_the_leeway_holds_for_a_granted_call_over_http(healthy: FakeZone):
    """Finding 11: a token whose exp passed 10 s ago still gets its delegated token (the
    verifier, the MCP SDK's backend and the delegator agree on the 30 s)."""

    async def exchange(request: Request) -> Response:
        return JSONResponse({**_exchanged(), "access_token": "downstream-SENTINEL"})

    healthy.token_handler = exchange
    sock = bound_socket()
    port = sock.getsockname()[1]
    provider = AuthProvider(zone_url=healthy.issuer, mcp_base_url=f"http://127.0.0.1:{port}/")
    mcp = FastMCP("Leeway", auth=provider.get_remote_auth_provider())

    @mcp.tool()
    @provider.grant("https://api.example/")
    def granted(ctx: Context) -> str:
        access = ctx.get_state("keycardai")
        if access.has_errors():
            return f"errors: {access.get_errors()}"
        return access.access("https://api.example/").access_token

    app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
    try:
        with serve_asgi(app, sock=sock) as local:
            call = {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "granted", "arguments": {}},
            }
            headers = {
                **ACCEPT,
                "Authorization": f"Bearer {token(healthy.issuer, local + '/mcp', exp_in=-10)}",
            }
            answer = httpx.post(local + "/mcp", headers=headers, json=call, timeout=30)
            assert answer.status_code == 200, answer.text
            assert "downstream-SENTINEL" in answer.text, answer.text
    finally:
        healthy.token_handler = None
