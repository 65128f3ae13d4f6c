"""Per-tool inbound scopes, enforced twice.

Over streamable HTTP, as HTTP 403 ``insufficient_scope`` (MCP 2025-11-25): a ``tools/call``
travels in the body of ``POST /mcp``, so ``ToolScopeGuard`` reads the JSON-RPC message before the
MCP transport does, then replays it untouched; the 403 carries ``scope=`` so clients can step
up. ``ToolScopeMiddleware`` checks again inside FastMCP, where every transport (SSE included)
passes, and refuses the call as a tool error; with ``server.list_tools: permitted`` it also
hides from ``tools/list`` the tools the caller's token cannot call.

The token's scopes are read as the adapter hands them over: expanded by the zone's scope
hierarchy, so a broader scope passes wherever a narrower one it implies is needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.middleware import Middleware, MiddlewareContext
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp_types import CallToolRequestParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._urls import endpoint_path

__all__ = ["OnRefused", "ToolScopeGuard", "ToolScopeMiddleware"]

# Told of each refusal: the tool, the scopes it needs, the ASGI scope (None inside FastMCP).
OnRefused = Callable[[str, Sequence[str], Scope | None], None]

_MAX_PEEK = 4 * 1024 * 1024  # the MCP SDK refuses larger messages anyway


class ToolScopeGuard:
    """ASGI middleware: refuse ``tools/call`` for a tool whose scopes the token lacks.

    ``path`` is the MCP endpoint's path as configured (any spelling); ``required_scopes``
    maps a tool name to the scopes it needs; ``challenge`` builds the 403's
    ``WWW-Authenticate`` from the missing scopes (``KeycardAuth.insufficient_scope_challenge``).
    ``active()`` says whether any tool has scopes now; while it is false requests pass
    unread (the body is neither buffered nor parsed). ``on_refused`` is told of each refusal.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str,
        required_scopes: Callable[[str], Sequence[str]],
        challenge: Callable[[Sequence[str]], str],
        active: Callable[[], bool] = lambda: True,
        on_refused: OnRefused | None = None,
    ) -> None:
        self.app = app
        self.active = active
        self.on_refused = on_refused
        # "/", "/mcp/", "mcp": compared in the one canonical spelling, request path included.
        self.path = endpoint_path(path)
        self.required_scopes = required_scopes
        self.challenge = challenge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        # Cheapest first: while no tool has scopes, nothing else is looked at.
        if (
            not self.active()
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or not isinstance(user, AuthenticatedUser)
            or (scope["path"] != self.path and endpoint_path(scope["path"]) != self.path)
        ):
            await self.app(scope, receive, send)
            return
        body, messages = await _read_body(receive)
        if body is None:
            too_large = {"error": "invalid_request", "error_description": "body too large"}
            await _respond(send, 413, too_large)
            return
        granted = set(user.scopes)
        missing = self._missing(body, granted)
        if missing is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        if self.on_refused is not None:
            refused = [
                n for n in _called_tools(body) if not set(self.required_scopes(n)) <= granted
            ]
            self.on_refused(refused[0], missing, scope)
        description = "This tool needs scope: " + " ".join(missing)
        await _respond(
            send,
            403,
            {"error": "insufficient_scope", "error_description": description},
            challenge=self.challenge(missing),
        )

    def _missing(self, body: bytes, granted: set[str]) -> list[str] | None:
        """Every scope the tools/call(s) in ``body`` need, if the token lacks any; else None.

        All of them, not only the missing ones: a client replaces its scopes with (or unions
        them with) the challenge's, so one challenge must name all it needs to step up once.
        """
        needed = [scope for name in _called_tools(body) for scope in self.required_scopes(name)]
        return list(dict.fromkeys(needed)) if not set(needed) <= granted else None


def _called_tools(body: bytes) -> list[str]:
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not ours to judge: the transport answers malformed JSON-RPC
    messages = message if isinstance(message, list) else [message]
    return [
        m["params"]["name"]
        for m in messages
        if isinstance(m, dict)
        and m.get("method") == "tools/call"
        and isinstance(m.get("params"), dict)
        and isinstance(m["params"].get("name"), str)
    ]


async def _read_body(receive: Receive) -> tuple[bytes | None, list[Message]]:
    """The whole request body, or None past the cap (the MCP transport's own limit)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_PEEK:
            return None, messages
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def _respond(
    send: Send, status: int, body: dict[str, Any], *, challenge: str | None = None
) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if challenge is not None:
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class ToolScopeMiddleware(Middleware):
    """FastMCP middleware: refuse a tool call whose token lacks the tool's scopes and, when
    ``list_permitted()`` is true, leave such tools out of ``tools/list``."""

    def __init__(
        self,
        required_scopes: Callable[[str], Sequence[str]],
        list_permitted: Callable[[], bool] = lambda: False,
        on_refused: OnRefused | None = None,
    ) -> None:
        self.required_scopes = required_scopes
        self.list_permitted = list_permitted
        self.on_refused = on_refused

    async def __call__(self, context: MiddlewareContext, call_next):
        # Overridden whole (FastMCP's documented signature) so other messages cost one call:
        # Middleware.__call__ builds its chain of hooks on every message. Only the typed
        # tools/call pass carries CallToolRequestParams (the outer pass has the raw params).
        if context.method == "tools/call" and isinstance(context.message, CallToolRequestParams):
            return await self.on_call_tool(context, call_next)
        if context.method == "tools/list" and self.list_permitted():
            return await self.on_list_tools(context, call_next)
        return await call_next(context)

    async def on_list_tools(self, context: MiddlewareContext, call_next):
        tools = await call_next(context)
        if not isinstance(tools, Sequence):  # the outer pass: its typed pass filtered already
            return tools
        granted = _granted()
        return [tool for tool in tools if set(self.required_scopes(tool.name)) <= granted]

    async def on_call_tool(self, context: MiddlewareContext, call_next):
        needed = list(self.required_scopes(context.message.name))
        if needed and not set(needed) <= _granted():
            if self.on_refused is not None:
                self.on_refused(context.message.name, needed, None)
            raise ToolError(
                f"insufficient_scope: tool {context.message.name!r} needs scope " + " ".join(needed)
            )
        return await call_next(context)


def _granted() -> set[str]:
    """The scopes of the current request's token (hierarchy applied), none without one."""
    token = get_access_token()
    return set(token.scopes) if token is not None else set()
