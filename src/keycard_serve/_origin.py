"""Which browser origins may talk to us: the MCP transport's ``Origin`` rule.

A web page in the user's browser can send requests to any server it can name, loopback
included, and with DNS rebinding it can do so under its own host name. Browsers always say
which page sent a request in ``Origin`` (RFC 6454 section 7), so the MCP streamable HTTP
transport requires servers to validate it and answer a disallowed one with 403. Requests
without ``Origin`` come from programs, not pages, and pass untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ._urls import is_loopback_host, is_loopback_origin, origin_of

__all__ = ["OriginGuard", "OriginPolicy"]


@dataclass(frozen=True)
class OriginPolicy:
    """The origins allowed to send requests.

    ``allowed`` are exact origins in ``origin_of`` form. With ``loopback`` true, any loopback
    origin (``http://localhost:6274``, the MCP Inspector) is allowed too, but only on a
    request that reached us over loopback: a page on the user's own machine talking to a
    server on the same machine.
    """

    allowed: frozenset[str]
    loopback: bool = False

    @classmethod
    def of(cls, base_url: str, allowed: Iterable[str] | None) -> OriginPolicy:
        """The policy of a server at ``base_url``: its own origin, plus ``allowed`` when
        given (exact origins), else loopback origins on loopback connections."""
        own = {origin_of(base_url)}
        if allowed is None:
            return cls(frozenset(own), loopback=True)
        return cls(frozenset(own | {origin_of(origin) for origin in allowed}))

    def allows(self, origin: str, server: tuple[str, int | None] | None = None) -> bool:
        """Whether a request from page ``origin``, received on local address ``server`` (the
        ASGI ``scope["server"]``), may be served."""
        if _canonical(origin) in self.allowed:
            return True
        on_loopback = server is not None and is_loopback_host(server[0])
        return self.loopback and on_loopback and is_loopback_origin(origin)


class OriginGuard:
    """ASGI middleware answering 403 (a JSON body, no challenge) to a disallowed ``Origin``.

    ``policy`` is read at every request, so a configuration reload reaches the next one.
    Put it outermost: a refused preflight must not get CORS headers either. ``cors`` wraps
    ``app`` in the CORS layer (e.g. ``functools.partial(CORSMiddleware, ...)``); requests pass
    through it, except a POST without ``Origin`` (a program's tool call), to which CORS would
    only add ``Vary: Origin``: that header is for caches, and an answer to a POST is cacheable
    only with explicit freshness and a ``Content-Location`` (RFC 9110 section 9.3.3), which
    MCP answers never carry.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: Callable[[], OriginPolicy],
        cors: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
        self.cors = cors(app) if cors is not None else app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            origin = Headers(scope=scope).get("origin")
            if origin is not None and not self.policy().allows(origin, scope.get("server")):
                await _forbidden(send, origin)
                return
            if origin is not None or scope["method"] != "POST":
                await self.cors(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _forbidden(send: Send, origin: str) -> None:
    body = json.dumps(
        {
            "error": "forbidden_origin",
            "error_description": f"requests from origin {origin[:200]!r} are not allowed",
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _canonical(origin: str) -> str:
    try:
        return origin_of(origin)
    except ValueError:
        return origin
