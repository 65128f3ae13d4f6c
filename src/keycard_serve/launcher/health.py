"""``GET /healthz``: liveness and configuration state, unauthenticated and secret-free."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import JSONResponse

from .reload import ReloadStatus

__all__ = ["health_endpoint"]


def health_endpoint(status: ReloadStatus) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The ``/healthz`` handler: ``status``, the config's SHA-256, load time (ISO 8601, UTC),
    reload count and the last reload error (already stripped of paths by the reloader)."""

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "config": {
                    "sha256": status.sha256,
                    "loaded_at": _iso(status.loaded_at),
                    "reloads": status.reloads,
                },
                "last_reload_error": status.last_error,
                "last_reload_error_at": _iso(status.last_error_at),
            },
            headers={"Cache-Control": "no-store"},
        )

    return healthz


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
