"""A light MCP load driver: raw HTTP/1.1 keep-alive JSON-RPC over asyncio streams.

An httpx or FastMCP client spends more CPU per call than the server it measures; this one
writes the request bytes itself and parses only what it checks (status, the session header,
the JSON-RPC answer in a JSON or a one-event SSE body, plain or chunked).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["PROTOCOL_VERSION", "Connection", "HTTPError", "Response", "call_tool", "initialize"]

PROTOCOL_VERSION = "2025-06-18"  # a session protocol both fastmcp 2.12 and FastMCP 4 speak


class HTTPError(Exception):
    """An answer the bench did not expect: status, body or JSON-RPC error."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def message(self) -> dict[str, Any]:
        """The JSON-RPC message of a JSON body, or of the first SSE event that carries one."""
        if self.headers.get("content-type", "").startswith("text/event-stream"):
            for line in self.body.split(b"\n"):
                if line.startswith(b"data:") and line[5:].strip():
                    return json.loads(line[5:])
            raise HTTPError(f"no message in the event stream: {self.body[:200]!r}")
        return json.loads(self.body)


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:``port``; one request at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._host = f"127.0.0.1:{port}".encode()
        self._ids = itertools.count(1)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def next_id(self) -> int:
        return next(self._ids)

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Response:
        head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self._host]
        head += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
        head.append(b"Content-Length: " + str(len(body)).encode())
        data = b"\r\n".join(head) + b"\r\n\r\n" + body
        reused = self._writer is not None and self._reader is not None
        if not reused or self._reader is None or self._reader.at_eof():
            self.close()
            await self.open()
        try:
            return await self._send(data)
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            # A kept-alive connection the server closed while idle: once more on a new one.
            if not reused or getattr(exc, "partial", b""):
                raise
            self.close()
            await self.open()
            return await self._send(data)

    async def _send(self, data: bytes) -> Response:
        assert self._writer is not None
        self._writer.write(data)
        return await self._response()

    async def _response(self) -> Response:
        assert self._reader is not None
        reader = self._reader
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                        pass
                    break
                chunks.append((await reader.readexactly(size + 2))[:-2])
            body = b"".join(chunks)
        else:
            body = await reader.read()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)


def _headers(token: str | None, session_id: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL_VERSION,
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if session_id is not None:
        headers["Mcp-Session-Id"] = session_id
    return headers


async def _rpc(
    connection: Connection,
    token: str | None,
    session_id: str | None,
    method: str,
    params: dict[str, Any],
) -> tuple[Response, dict[str, Any]]:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": connection.next_id(), "method": method, "params": params},
        separators=(",", ":"),
    ).encode()
    response = await connection.request("POST", "/mcp", _headers(token, session_id), body)
    if response.status != 200:
        raise HTTPError(f"{method}: HTTP {response.status} {response.body[:300]!r}")
    message = response.message()
    if "error" in message:
        raise HTTPError(f"{method}: {message['error']}")
    return response, message["result"]


async def initialize(connection: Connection, token: str | None) -> str | None:
    """Open an MCP session for ``token``'s user; its session id (None on a stateless server)."""
    params = {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    }
    response, _ = await _rpc(connection, token, None, "initialize", params)
    session_id = response.headers.get("mcp-session-id")
    note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
    done = await connection.request("POST", "/mcp", _headers(token, session_id), note)
    if done.status not in (200, 202):
        raise HTTPError(f"notifications/initialized: HTTP {done.status} {done.body[:300]!r}")
    return session_id


async def call_tool(
    connection: Connection, token: str | None, session_id: str | None, name: str
) -> str:
    """Call tool ``name`` without arguments; its text (an error result raises)."""
    _, result = await _rpc(
        connection, token, session_id, "tools/call", {"name": name, "arguments": {}}
    )
    if result.get("isError"):
        raise HTTPError(f"tool {name} failed: {result['content']}")
    return result["content"][0]["text"]
