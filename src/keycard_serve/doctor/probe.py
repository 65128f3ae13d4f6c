"""The doctor's only way onto the network: unauthenticated requests, recorded.

Redirects are never followed, bodies are read with a byte cap inside a deadline, only the
origins the server itself pointed to are contacted, and no credential is ever sent. Identical
requests from several clients go out once; each client still sees them in its own trace.
Reports carry a summary of each body, never the body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx

from .._version import __version__
from .locations import origin

__all__ = ["MCP_PROTOCOL_VERSION", "Exchange", "Probe", "Trace"]

MCP_PROTOCOL_VERSION = "2025-06-18"
USER_AGENT = f"keycard-serve-doctor/{__version__}"
_MAX_BODY = 256 * 1024


@dataclass(frozen=True)
class Exchange:
    """One request and what came back; ``status`` is None when nothing did (see ``note``)."""

    method: str
    url: str
    status: int | None
    headers: httpx.Headers = field(default_factory=httpx.Headers, repr=False)
    body: Any = field(default=None, repr=False)
    size: int = 0
    note: str = ""

    @property
    def document(self) -> dict[str, Any] | None:
        """The body if this was a 200 with a JSON object, else None."""
        return self.body if self.status == 200 and isinstance(self.body, dict) else None

    def summary(self) -> str:
        """What the body was, without any of its values (it may be anything)."""
        if self.note:
            return self.note
        if isinstance(self.body, dict):
            error = self.body.get("error")
            if isinstance(error, str) and error.isidentifier() and len(error) <= 40:
                return f"JSON error {error}"
            return f"JSON object, {len(self.body)} members"
        kind = self.headers.get("content-type", "no content-type").split(";")[0]
        return f"{kind}, {self.size} bytes"


class Probe:
    """Sends requests for every client, once each, to allowed origins only."""

    def __init__(self, client: httpx.AsyncClient, *, timeout: float, allowed: str) -> None:
        self._client = client
        self._timeout = timeout
        self._allowed = {origin(allowed)}
        self._sent: dict[tuple[Any, ...], Exchange] = {}

    def allow(self, url: str) -> None:
        """Also talk to ``url``'s origin (an authorization server the PRM names)."""
        self._allowed.add(origin(url))

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any] | None = None,
    ) -> Exchange:
        key = (method, url, tuple(sorted(headers.items())), json.dumps(body, sort_keys=True))
        if key not in self._sent:
            self._sent[key] = await self._send(method, url, headers, body)
        return self._sent[key]

    async def _send(
        self, method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None
    ) -> Exchange:
        if origin(url) not in self._allowed:
            return Exchange(
                method,
                url,
                None,
                note="not sent: neither the MCP origin nor the PRM's authorization server",
            )
        try:
            with anyio.fail_after(self._timeout):
                request = self._client.build_request(
                    method, url, headers={"User-Agent": USER_AGENT, **headers}, json=body
                )
                response = await self._client.send(request, stream=True)
                try:
                    raw = await _read(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return Exchange(method, url, None, note=f"no answer within {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return Exchange(method, url, None, note=f"failed: {type(exc).__name__}")
        if response.is_redirect:
            note = (
                f"redirect to {_without_query(response.headers.get('location', '?'))}, not followed"
            )
        else:
            note = "body over 256 KiB, not read" if raw is None else ""
        return Exchange(
            method, url, response.status_code, response.headers, _json(raw), len(raw or b""), note
        )


class Trace:
    """One client's requests, in the order it makes them.

    For a browser client every request carries its Origin and, as a browser would, a CORS
    preflight goes first when a header is not CORS-safelisted; the preflight's answer is kept
    in ``preflights``. The request itself is sent either way, so the replay can go on.
    """

    def __init__(self, probe: Probe, *, browser_origin: str | None) -> None:
        self.probe = probe
        self.browser_origin = browser_origin
        self.exchanges: list[Exchange] = []
        self.preflights: dict[tuple[str, str], Exchange] = {}

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Exchange:
        headers = dict(headers or {})
        if self.browser_origin:
            unsafe = sorted(name.lower() for name in headers if name.lower() != "accept")
            if unsafe and method != "OPTIONS":
                self.preflights[method, url] = await self.preflight(url, method, unsafe)
            headers["Origin"] = self.browser_origin
        exchange = await self.probe.send(method, url, headers, body)
        self.exchanges.append(exchange)
        return exchange

    async def preflight(self, url: str, method: str, headers: list[str]) -> Exchange:
        return await self.send(
            "OPTIONS",
            url,
            {
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": ", ".join(headers),
            },
        )

    async def discover(self, url: str) -> Exchange:
        """A discovery GET as the MCP SDKs send it."""
        headers = {"Accept": "application/json", "MCP-Protocol-Version": MCP_PROTOCOL_VERSION}
        return await self.send("GET", url, headers)


async def _read(response: httpx.Response) -> bytes | None:
    """The body within the cap; None when larger; nothing from an event stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return b""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _json(raw: bytes | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _without_query(url: str) -> str:
    """A URL fit for a report: a query or fragment might carry a code or a token."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
