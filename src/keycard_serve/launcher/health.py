"""``GET /healthz`` (liveness and configuration state) and ``GET /readyz`` (readiness):
unauthenticated and secret-free."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import JSONResponse

from .reload import ReloadStatus

__all__ = ["health_endpoint", "ready_endpoint"]

_NO_STORE = {"Cache-Control": "no-store"}


def health_endpoint(status: ReloadStatus) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The ``/healthz`` handler: ``status``, the serving process's ``pid``, the config's
    SHA-256, load time (ISO 8601, UTC), reload count, the last reload error (already
    stripped of paths by the reloader) and ``restart_pending``: the changed fields that wait
    for a restart (empty when none). Always 200 while the process serves."""

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "pid": os.getpid(),
                "config": {
                    "sha256": status.sha256,
                    "loaded_at": _iso(status.loaded_at),
                    "reloads": status.reloads,
                },
                "last_reload_error": status.last_error,
                "last_reload_error_at": _iso(status.last_error_at),
                "restart_pending": list(status.restart_pending),
            },
            headers=_NO_STORE,
        )

    return healthz


def ready_endpoint(
    ready: Callable[[], Awaitable[str | None]],
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The ``/readyz`` handler: 200 ``{"status": "ready"}`` once ``ready()`` returns None (the
    zone's metadata and signing keys loaded, the shared cache answered), else 503
    ``{"status": "not ready", "reason": ...}``. ``ready()`` loads what is missing, so the
    probe itself brings a new process to readiness."""

    async def readyz(request: Request) -> JSONResponse:
        reason = await ready()
        if reason is None:
            return JSONResponse({"status": "ready"}, headers=_NO_STORE)
        return JSONResponse({"status": "not ready", "reason": reason}, 503, headers=_NO_STORE)

    return readyz


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
