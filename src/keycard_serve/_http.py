"""Outbound HTTP shared by discovery, the JWKS cache and token exchange.

One pooled ``httpx.AsyncClient`` per event loop (a client is bound to the loop that opened
its connections), redirects never followed, and every body read with a byte cap and inside an
overall deadline, because httpx's read timeout applies per chunk and a slow body would
otherwise hold a tool call for ever.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from ._version import __version__

__all__ = ["ClientPool", "HTTPFailure", "JSONResult", "request_json"]

_USER_AGENT = f"keycard-serve/{__version__}"
_DEFAULT_TIMEOUT = httpx.Timeout(5.0)  # seconds, per connect/read/write/pool phase
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class HTTPFailure(Exception):
    """A request that produced no usable response; ``reason`` is a stable short code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class JSONResult:
    """A response whose body was read within the cap; ``body`` is None if it was not JSON."""

    status: int
    headers: httpx.Headers
    body: Any
    text: str

    def snippet(self, limit: int = 200) -> str:
        """A short, single-line excerpt of the body for error messages."""
        return " ".join(self.text[:limit].split())


class ClientPool:
    """Hands out one ``httpx.AsyncClient`` per running event loop, created on first use."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout = _DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network (httpx's ``MockTransport`` or ``ASGITransport``)."""
        self._timeout = timeout
        self._transport = transport
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]
        self._clients = weakref.WeakKeyDictionary()
        self._closed: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()

    def get(self) -> httpx.AsyncClient:
        """The client of the running event loop (call it inside a coroutine).

        ``RuntimeError`` after ``aclose`` on this loop: a client opened then would never be
        closed.
        """
        loop = asyncio.get_running_loop()
        if loop in self._closed:
            raise RuntimeError("this ClientPool was closed on the running event loop")
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                timeout=self._timeout,
                limits=_LIMITS,
                follow_redirects=False,
                headers={"User-Agent": _USER_AGENT},
                transport=self._transport,
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close the client of the current loop (others die with their loops); ``get`` on
        this loop raises from now on."""
        loop = asyncio.get_running_loop()
        self._closed.add(loop)
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    max_bytes: int,
    deadline: float,
    **kwargs: Any,
) -> JSONResult:
    """Send one request and read its body as JSON, within ``max_bytes`` and ``deadline`` seconds.

    Raises ``HTTPFailure`` with reason ``timeout``, ``network``, ``too_large`` or ``redirect``.
    A non-JSON body is not an error here: ``body`` is None and the caller decides.
    """
    try:
        with anyio.fail_after(deadline):
            async with client.stream(method, url, **kwargs) as response:
                if response.is_redirect:
                    raise HTTPFailure(
                        "redirect",
                        f"{method} {url} answered {response.status_code} with a redirect, "
                        "which is never followed",
                    )
                raw = await _read_capped(response, max_bytes)
    except TimeoutError as exc:
        raise HTTPFailure("timeout", f"{method} {url} took longer than {deadline:g} s") from exc
    except httpx.TimeoutException as exc:
        raise HTTPFailure("timeout", f"{method} {url} timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise HTTPFailure("network", f"{method} {url} failed: {type(exc).__name__}") from exc
    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    return JSONResult(status=response.status_code, headers=response.headers, body=body, text=text)


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPFailure("too_large", f"response of {declared} bytes exceeds {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    # aiter_bytes yields decoded bytes, so a compression bomb is capped too.
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPFailure("too_large", f"response body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
