"""A scriptable authorization server on loopback, for faults a real one will not produce.

Tests set ``zone.token_handler`` (and ``zone.metadata_handler``, ``zone.jwks_handler``) to
starlette endpoints; every request is recorded with its headers and form so tests can assert
what was sent.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .servers import bound_socket, serve_asgi

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeZone:
    issuer: str
    requests: list[Recorded] = field(default_factory=list)
    token_handler: Handler | None = None
    metadata_handler: Handler | None = None
    jwks_handler: Handler | None = None
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
        }

    def paths(self, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(prefix)]


def _app(zone: FakeZone) -> Starlette:
    async def record(request: Request) -> None:
        form = dict(await request.form()) if request.method == "POST" else {}
        zone.requests.append(
            Recorded(request.method, request.url.path, dict(request.headers), form)  # type: ignore[arg-type]
        )

    async def metadata(request: Request) -> Response:
        await record(request)
        if zone.metadata_handler is not None:
            return await zone.metadata_handler(request)
        return JSONResponse(zone.metadata())

    async def token(request: Request) -> Response:
        await record(request)
        if zone.token_handler is None:
            return JSONResponse({"error": "server_error"}, status_code=500)
        return await zone.token_handler(request)

    async def jwks(request: Request) -> Response:
        await record(request)
        if zone.jwks_handler is not None:
            return await zone.jwks_handler(request)
        return JSONResponse(zone.jwks)

    return Starlette(
        routes=[
            Route("/.well-known/oauth-authorization-server", metadata),
            Route("/.well-known/openid-configuration", metadata),
            Route("/token", token, methods=["POST"]),
            Route("/jwks", jwks),
        ]
    )


@contextlib.contextmanager
def run_fake_zone(sock: socket.socket | None = None) -> Iterator[FakeZone]:
    """The fake zone on a real loopback socket (for faults that need one: slow bodies...).

    ``sock`` (from ``bound_socket()``) serves it at a port the test already handed out: until
    then that port refuses connections, which is how a test takes a zone down and back up.
    """
    sock = sock or bound_socket()
    zone = FakeZone(issuer=f"http://127.0.0.1:{sock.getsockname()[1]}")
    with serve_asgi(_app(zone), sock=sock):
        yield zone


def in_memory_zone(issuer: str = "https://zone.test") -> tuple[FakeZone, httpx.AsyncBaseTransport]:
    """The fake zone with no socket: pass the transport to ``ClientPool(transport=...)``.

    Requests to any host reach the zone's handlers in process (httpx's ``ASGITransport``).
    """
    zone = FakeZone(issuer=issuer)
    return zone, httpx.ASGITransport(app=_app(zone))


def exchanged(token: str = "downstream-token", **extra: Any) -> dict[str, Any]:
    """A well-formed RFC 8693 success body."""
    body: dict[str, Any] = {
        "access_token": token,
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "token_type": "Bearer",
        "expires_in": 300,
    }
    body.update(extra)
    return body
