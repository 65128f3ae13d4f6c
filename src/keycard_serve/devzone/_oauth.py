"""What every endpoint of the zone shares: OAuth errors (RFC 6749 §5.2), request parameters,
no-store JSON responses, and the zone's logger, whose every line says this is a development
zone, not a production authorization server."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "BANNER",
    "OAuthError",
    "Params",
    "catch_oauth_errors",
    "json_response",
    "log",
    "parse_scope",
    "read_form",
    "read_json",
]

BANNER = "development zone — not for production"

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_BODY = 64 * 1024  # bytes
_MAX_FIELDS = 100
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
# RFC 8707 lets `resource` repeat; every other OAuth parameter MUST NOT (RFC 6749 §3.1, §3.2).
_REPEATABLE = frozenset({"resource"})


class OAuthError(Exception):
    """An RFC 6749 §5.2 error; ``status`` 401 adds the Basic challenge RFC 6749 asks for."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> JSONResponse:
        """The JSON error body ``{"error", "error_description"}`` with ``status``, no-store."""
        headers = dict(_NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="keycard-serve development zone"'
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=headers)


class Params:
    """Request parameters, each allowed once unless the spec says it may repeat."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in items:
            self._values.setdefault(name, []).append(value)
        for name, values in self._values.items():
            if len(values) > 1 and name not in _REPEATABLE:
                raise OAuthError("invalid_request", f"parameter {name!r} was sent more than once")

    def get(self, name: str) -> str | None:
        """The parameter's value; an empty value counts as absent (RFC 6749 §3.1)."""
        values = self._values.get(name)
        return values[0] if values and values[0] else None

    def require(self, name: str) -> str:
        """The parameter's value; ``OAuthError`` ``invalid_request`` if absent or empty."""
        value = self.get(name)
        if value is None:
            raise OAuthError("invalid_request", f"missing required parameter {name!r}")
        return value

    def getlist(self, name: str) -> list[str]:
        """Every non-empty value of a repeatable parameter, in request order."""
        return [value for value in self._values.get(name, []) if value]


def parse_scope(value: str | None) -> tuple[str, ...]:
    """Space-delimited scopes (RFC 6749 §3.3) in request order, without duplicates.

    Raises ``OAuthError`` ``invalid_scope`` for a scope with a character §3.3 forbids.
    """
    scopes = tuple(dict.fromkeys(scope for scope in (value or "").split(" ") if scope))
    for scope in scopes:
        if not _SCOPE_TOKEN.match(scope):
            raise OAuthError("invalid_scope", f"malformed scope {scope!r}")
    return scopes


async def read_form(request: Request) -> Params:
    """The urlencoded body (RFC 6749 §4.1.3 requires that media type), at most 64 KiB and
    100 fields; ``OAuthError`` ``invalid_request`` otherwise or if a parameter repeats."""
    _require_media_type(request, "application/x-www-form-urlencoded", error="invalid_request")
    body = await _read_capped(request)
    try:
        items = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError("invalid_request", "malformed form body") from exc
    return Params(items)


async def read_json(request: Request, *, error: str) -> Any:
    """A JSON body of at most 64 KiB; the media type is required so no HTML form can post
    one. Raises ``OAuthError`` with code ``error`` otherwise."""
    _require_media_type(request, "application/json", error=error)
    body = await _read_capped(request, error=error)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError(error, "body is not valid JSON") from exc


def json_response(body: Mapping[str, Any], *, status: int = 200) -> JSONResponse:
    """``body`` as JSON, never cached (RFC 6749 §5.1 ``Cache-Control: no-store``)."""
    return JSONResponse(dict(body), status_code=status, headers=_NO_STORE)


def catch_oauth_errors(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Turn ``OAuthError`` into its JSON body inside the route, so CORS headers still apply."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except OAuthError as exc:
            return exc.response()

    return endpoint


def _require_media_type(request: Request, media_type: str, *, error: str) -> None:
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent != media_type:
        raise OAuthError(error, f"body must be {media_type}")


async def _read_capped(request: Request, *, error: str = "invalid_request") -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_BODY:
            raise OAuthError(error, f"body larger than {_MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _DevZoneLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return f"[{BANNER}] {msg}", kwargs


# Logs to "keycard_serve.devzone"; never given a token, secret or key.
log = _DevZoneLogger(logging.getLogger("keycard_serve.devzone"), {})
