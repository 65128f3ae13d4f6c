"""Keep web pages out: the zone answers only requests addressed to a loopback host name.

A page on any site can make the developer's browser send requests to 127.0.0.1, and with DNS
rebinding it can do so same-origin under its own name. Such requests carry that name in
``Host``, so refusing every non-loopback ``Host`` closes the door (the MCP Inspector
CVE-2025-49596 class of attack) — an auto-approving zone must not hand tokens to them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .._urls import is_loopback_host
from ._log import BANNER

__all__ = ["LOOPBACK_ORIGIN", "LoopbackHostMiddleware"]

# CORS origins the zone answers: pages served from loopback (MCP Inspector, local tools).
LOOPBACK_ORIGIN = r"https?://(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?"


class LoopbackHostMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _loopback_host(Headers(scope=scope).get("host")):
            response = PlainTextResponse(
                f"keycard-serve {BANNER}: only loopback host names are served", status_code=421
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _loopback_host(host: str | None) -> bool:
    try:
        hostname = urlsplit(f"//{host}").hostname if host else None
    except ValueError:
        return False
    return hostname is not None and is_loopback_host(hostname)
