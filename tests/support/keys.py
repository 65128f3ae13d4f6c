"""Test keys, JWKS documents, signed and hand-built tokens, and a loopback JWKS endpoint."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .servers import serve_asgi

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


@functools.cache
def rsa_key(name: str = "main", bits: int = 2048) -> rsa.RSAPrivateKey:
    """One RSA key per name for the whole session (generation is the slow part)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def ec_key(name: str = "main", curve: str = "P-256") -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(_CURVES[curve]())


def public_jwk(key: PrivateKey, kid: str | None, **members: Any) -> dict[str, Any]:
    """The public JWK of ``key``; ``members`` adds or overrides (``alg``, ``use``...)."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    jwk.update(members)
    return jwk


def b64url(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def sign(
    claims: dict[str, Any],
    key: PrivateKey,
    *,
    alg: str = "RS256",
    kid: str | None = "rsa-1",
    typ: str | None = "at+jwt",
    **headers: Any,
) -> str:
    """A token signed by pyjwt; ``typ=None`` leaves the header out, ``kid=None`` too."""
    header: dict[str, Any] = {**headers}
    if kid is not None:
        header["kid"] = kid
    header["typ"] = typ or ""  # pyjwt drops an empty typ
    return jwt.encode(claims, key, algorithm=alg, headers=header)


def sign_raw(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, key: Any) -> str:
    """A token whose header and payload bytes are exactly as given, validly signed.

    For inputs pyjwt would never produce: duplicate JSON members, NaN, arrays, odd headers.
    """
    header_bytes = header if isinstance(header, bytes) else encode_json(header)
    payload_bytes = payload if isinstance(payload, bytes) else encode_json(payload)
    alg = json.loads(header_bytes)["alg"]
    signing_input = f"{b64url(header_bytes)}.{b64url(payload_bytes)}"
    algorithm = jwt.get_algorithm_by_name(alg)
    signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key))
    return f"{signing_input}.{b64url(signature)}"


def unsigned(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, sig: bytes) -> str:
    """A hand-built compact token with an arbitrary signature."""
    header_bytes = header if isinstance(header, bytes) else encode_json(header)
    payload_bytes = payload if isinstance(payload, bytes) else encode_json(payload)
    return f"{b64url(header_bytes)}.{b64url(payload_bytes)}.{b64url(sig)}"


@dataclass
class JWKSHost:
    """A JWKS endpoint whose behaviour tests change between requests; it counts every GET.

    ``mode``: ``ok``, ``status_500``, ``slow`` (no answer until ``reset``), ``slow_body`` (one
    byte every 50 ms), ``not_json``, ``not_jwks``, ``huge`` (10 MB, declared), ``huge_chunked``
    (10 MB, streamed) or ``redirect`` (to ``redirect_to``). While ``hold`` is set, arriving
    requests wait until it is set, then answer with the document as it was when they arrived:
    that is how tests keep a fetch in flight without relying on timing.
    """

    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    mode: str = "ok"
    redirect_to: str = ""
    hold: threading.Event | None = None
    hits: int = 0
    base_url: str = ""
    _stall: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"{self.base_url}/jwks"

    def reset(self, jwks: dict[str, Any] | None = None) -> None:
        """Back to a plain JWKS; every request still held or stalled is let go."""
        self._stall.set()
        self._stall = threading.Event()
        if self.hold is not None:
            self.hold.set()
        self.jwks = jwks or {"keys": []}
        self.mode, self.redirect_to, self.hold, self.hits = "ok", "", None, 0

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/jwks", self._answer), Route("/{path:path}", self._stray)])

    async def _stray(self, request: Request) -> Response:
        self.hits += 1
        return JSONResponse({"keys": []})

    async def _answer(self, request: Request) -> Response:
        self.hits += 1
        document, mode = self.jwks, self.mode
        gate = self._stall if mode == "slow" else self.hold
        if gate is not None:
            await asyncio.to_thread(gate.wait, 10)
        if mode == "status_500":
            return Response("boom", status_code=500)
        if mode == "slow_body":
            return StreamingResponse(_trickle(), media_type="application/json")
        if mode == "not_json":
            return Response("<html>maintenance</html>", media_type="text/html")
        if mode == "not_jwks":
            return JSONResponse({"keys": "all of them"})
        if mode == "huge":
            return Response(b" " * 10_000_000, media_type="application/json")
        if mode == "huge_chunked":
            return StreamingResponse(_flood(), media_type="application/json")
        if mode == "redirect":
            return RedirectResponse(self.redirect_to, status_code=302)
        return JSONResponse(document)


async def _trickle() -> AsyncIterator[bytes]:
    for _ in range(40):
        yield b" "
        await asyncio.sleep(0.05)


async def _flood() -> AsyncIterator[bytes]:
    for _ in range(10):
        yield b" " * 1_000_000


@contextlib.contextmanager
def served_jwks_host() -> Iterator[JWKSHost]:
    """A ``JWKSHost`` served on a loopback port for as long as the block lasts."""
    host = JWKSHost()
    with serve_asgi(host.app()) as base_url:
        host.base_url = base_url
        yield host


class InMemoryHosts(httpx.AsyncBaseTransport):
    """An httpx transport reaching each ``JWKSHost`` by the host name of its ``base_url``, in
    process (no socket); a request to any other host fails as a refused connection."""

    def __init__(self, *hosts: JWKSHost) -> None:
        self._apps = {
            httpx.URL(host.base_url).host: httpx.ASGITransport(app=host.app()) for host in hosts
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = self._apps.get(request.url.host)
        if app is None:
            raise httpx.ConnectError(f"no host {request.url.host} here", request=request)
        return await app.handle_async_request(request)
