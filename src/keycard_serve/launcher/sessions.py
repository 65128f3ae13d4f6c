"""Open MCP sessions, so a changed tool list can be announced to them.

FastMCP has no broadcast: this middleware remembers each session it sees (weakly, so closed
sessions vanish) and sends ``notifications/tools/list_changed`` to every one on request.
Stateless (2026-07-28) connections have no session to notify; those clients list again.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from typing import Any

from fastmcp import Context
from fastmcp.server.middleware import Middleware, MiddlewareContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["SessionTracker"]

logger = logging.getLogger("keycard_serve.reload")


class SessionTracker(Middleware):
    """FastMCP middleware remembering open sessions (weakly) to announce tool-list changes."""

    def __init__(self) -> None:
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()

    async def __call__(self, context: MiddlewareContext, call_next):
        # Overridden whole (FastMCP's documented signature): only requests matter, and
        # Middleware.__call__ would build its chain of hooks on every message.
        ctx = context.fastmcp_context
        if ctx is not None and context.type == "request" and _has_session(ctx):
            # No session for this request (stateless), or one that cannot be tracked.
            with contextlib.suppress(RuntimeError, TypeError):
                self._sessions.add(ctx.session)
        return await call_next(context)

    async def announce_tool_list_changed(self) -> int:
        """Notify every open session; returns how many were reached."""
        reached = 0
        for session in list(self._sessions):
            try:
                await session.send_tool_list_changed()
                reached += 1
            except Exception:  # a closed or broken session: forget it
                self._sessions.discard(session)
        logger.info("told %d open session(s) that the tool list changed", reached)
        return reached


def _has_session(ctx: Context) -> bool:
    """False on the 2026-07-28 protocol, where each request is a connection of its own: the
    SDK builds a session object per request, but none lives on to be notified."""
    request = ctx.request_context
    return request is None or request.protocol_version not in MODERN_PROTOCOL_VERSIONS
