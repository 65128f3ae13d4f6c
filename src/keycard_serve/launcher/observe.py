"""What the ``observability`` section turns on for a served app: metrics and the audit log.

``Observability`` owns the metric registry (``keycard_serve._metrics``) and the ``AuditLog``;
it hands out the two observers that see requests:

- ``RequestObserver`` (ASGI, inside the bearer check, with an audit log): gives each HTTP
  request an id for its audit events (its ``X-Request-Id`` when it is a short token, else a
  new one) and writes the ``token_refused``
  event of a request whose bearer token was refused with 401;
- ``ToolCallObserver`` (FastMCP middleware): times each tool call, counts it by tool and
  outcome and writes its ``tool_call`` event, with each granted resource's outcome.

Scope refusals (403, and the tool error of other transports) reach ``scope_refused`` from
``scope_guard``. Audit events never hold a token, a secret, an assertion or a tool argument.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from fastmcp.exceptions import NotFoundError
from fastmcp.server.auth import AccessToken
from fastmcp.server.dependencies import get_access_token, get_http_request
from fastmcp.server.middleware import Middleware as FastMCPMiddleware
from fastmcp.server.middleware import MiddlewareContext
from mcp_types import CallToolRequestParams
from prometheus_client import CollectorRegistry
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import _metrics
from .._audit import AuditLog
from .._call_record import CallRecord, current_call
from .._fastmcp_auth import REFUSAL_STATE_KEY
from ..config.models import ObservabilityConfig

__all__ = ["Observability", "RequestObserver", "ToolCallObserver"]

_REQUEST_KEY = "keycard_serve.request"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")  # what we echo of a client's X-Request-Id
_ACT_DEPTH = 8  # nested act claims kept (RFC 8693 section 4.1)
# A new request id: this process's random tag and a counter (unique without a system call
# per request; a worker or a restarted process draws a new tag).
_PROCESS_TAG = os.urandom(6).hex()
_SEQUENCE = itertools.count(1)


class _Request:
    __slots__ = ("id", "started")

    def __init__(self, request_id: str, started: float) -> None:
        self.id = request_id
        self.started = started


class Observability:
    """Metrics and audit log of one served app, as ``config`` asks; ``close()`` when done."""

    def __init__(self, config: ObservabilityConfig) -> None:
        self.config = config
        self.registry: CollectorRegistry | None = (
            _metrics.enable() if config.metrics is not None else None
        )
        self.audit = AuditLog(config.audit.path) if config.audit is not None else None

    def tool_middleware(self) -> list[FastMCPMiddleware]:
        """The FastMCP middleware counting and auditing tool calls: none without metrics or an
        audit log (the section changes only with a restart)."""
        if self.registry is None and self.audit is None:
            return []
        return [ToolCallObserver(self.audit)]

    def http_middleware(self) -> list[Middleware]:
        """The ASGI middleware giving requests ids and auditing 401s: none without an audit
        log."""
        return [] if self.audit is None else [Middleware(RequestObserver, audit=self.audit)]

    def scope_refused(self, tool: str, missing: Sequence[str], scope: Scope | None) -> None:
        """A call of ``tool`` refused for lacking ``missing`` scopes (403 or a tool error).

        ``scope`` is the ASGI scope when the HTTP guard refused it, else None (read from
        FastMCP's request context)."""
        _metrics.record_tool_call(tool, "scope_refused")
        if self.audit is None:
            return
        if scope is not None:
            user = scope.get("user")
            access = getattr(user, "access_token", None)
            request = scope.get("state", {}).get(_REQUEST_KEY)
        else:
            access, request = get_access_token(), _current_request()
        event: dict[str, Any] = {
            "time": time.time(),
            "event": "scope_refused",
            "request_id": request.id if request is not None else None,
            "tool": tool,
            **_caller(access),
            "missing_scopes": list(missing),
        }
        if scope is not None:
            event["status"] = 403
        if request is not None:
            event["duration_ms"] = _ms_since(request.started)
        self.audit.emit(event)

    def close(self) -> None:
        """Stop counting (if this app started it) and write out the audit log."""
        if self.registry is not None:
            _metrics.disable()
        if self.audit is not None:
            self.audit.close()


class RequestObserver:
    """ASGI middleware: a request id for every HTTP request's audit events; audit of 401
    token refusals."""

    def __init__(self, app: ASGIApp, *, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        request = state[_REQUEST_KEY] = _Request(_request_id(scope), started)
        reason = state.get(REFUSAL_STATE_KEY)
        if reason is None:
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status == 401:
            self.audit.emit(
                {
                    "time": time.time(),
                    "event": "token_refused",
                    "request_id": request.id,
                    "reason": reason,
                    "status": 401,
                    "duration_ms": _ms_since(started),
                }
            )


class ToolCallObserver(FastMCPMiddleware):
    """FastMCP middleware: each tool call timed, counted by tool and outcome, and audited."""

    def __init__(self, audit: AuditLog | None) -> None:
        self.audit = audit

    async def __call__(self, context: MiddlewareContext, call_next):
        # Overridden whole, as ToolScopeMiddleware is: one call per message, and only the
        # typed tools/call pass is a tool call.
        if context.method == "tools/call" and isinstance(context.message, CallToolRequestParams):
            return await self.on_call_tool(context, call_next)
        return await call_next(context)

    async def on_call_tool(self, context: MiddlewareContext, call_next):
        started = time.perf_counter()
        record = CallRecord()
        reset = current_call.set(record)
        outcome: str | None = "error"
        try:
            result = await call_next(context)
            outcome = "access_error" if record.failed else "ok"
            return result
        except NotFoundError:
            outcome = None  # not a served tool: its name is the client's, not the config's
            raise
        finally:
            current_call.reset(reset)
            if outcome is not None:
                tool = context.message.name
                _metrics.record_tool_call(tool, outcome)
                if self.audit is not None:
                    self._audit(tool, outcome, record, started)

    def _audit(self, tool: str, outcome: str, record: CallRecord, started: float) -> None:
        assert self.audit is not None
        request = _current_request()
        self.audit.emit(
            {
                "time": time.time(),
                "event": "tool_call",
                "request_id": request.id if request is not None else None,
                "tool": tool,
                **_caller(get_access_token()),
                "resources": [
                    {"resource": resource, "outcome": result}
                    for resource, result in record.resources.items()
                ],
                "outcome": outcome,
                "duration_ms": _ms_since(started),
            }
        )


def _current_request() -> _Request | None:
    try:
        return get_http_request().scope.get("state", {}).get(_REQUEST_KEY)
    except RuntimeError:  # an in-memory call: no HTTP request
        return None


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return value.decode("ascii")
    return f"{_PROCESS_TAG}-{next(_SEQUENCE):x}"


def _caller(access: AccessToken | None) -> dict[str, Any]:
    """``sub``, ``client_id`` and the ``act`` chain (outermost actor first) of a caller."""
    if access is None:
        return {"sub": None, "client_id": None}
    claims = access.claims or {}
    caller: dict[str, Any] = {
        "sub": access.subject or _text(claims.get("sub")),
        "client_id": _text(claims.get("client_id")) or _text(claims.get("azp")),
    }
    chain = _act_chain(claims.get("act"))
    if chain:
        caller["act"] = chain
    return caller


def _act_chain(act: Any) -> list[dict[str, str]]:
    chain: list[dict[str, str]] = []
    while isinstance(act, Mapping) and len(chain) < _ACT_DEPTH:
        actor = {key: act[key] for key in ("sub", "iss", "client_id") if _text(act.get(key))}
        chain.append(actor)
        act = act.get("act")
    return chain


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
