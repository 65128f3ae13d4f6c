"""Apply a changed config inside the running server: validate in full, then swap.

A reload loads the file exactly as a start would (imports included). Only a config that passes
every check is swapped in, whole; anything else keeps the last good one serving and is
reported once, with its file:line. Reloads are serialised, and each reads the file as it is
now, so a burst of saves ends on the last one.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .. import _metrics
from .._fastmcp_auth import KeycardAuth
from ..config import ConfigError, LoadedConfig, import_tools, load_config
from ..config._provider import advertised_scopes
from ..errors import KeycardServeError
from ..provider import AuthProvider
from .runtime import Runtime, Snapshot
from .tools import ToolRegistry

__all__ = ["ReloadStatus", "Reloader"]

logger = logging.getLogger("keycard_serve.reload")

_RESTART_FIELDS = (
    "base_url",
    "host",
    "port",
    "path",
    "transport",
    "stateless",
    "workers",
    "version",
)
_OLD_PROVIDER_GRACE = 60.0  # seconds in-flight calls may still use a replaced provider


@dataclass
class ReloadStatus:
    """What ``/healthz`` reports about configuration loading.

    ``loaded_at`` and ``last_error_at`` are epoch seconds; ``last_error`` is a summary
    without the config's directory (``/healthz`` needs no token). ``restart_pending`` names the
    fields (``server.base_url``, ``zone.dev``...) whose change in the file waits for a restart;
    ``sha256`` is the file's even then.
    """

    sha256: str
    loaded_at: float
    reloads: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    restart_pending: tuple[str, ...] = ()


class Reloader:
    """Reloads one config file into a running server.

    ``new_provider`` builds the provider of a config whose zone or credentials changed;
    ``announce`` tells open sessions the tool list changed; ``request_restart(reason)``, if
    given, stops the server to be started again in a new process (an adopted app's module
    changed), else such a change is reported as needing a manual restart. ``read(path)`` loads
    the file again, tools imported (default: ``load_config`` then ``import_tools``; ``dev``
    passes its own, so a reload reads the file as the start did).
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        runtime: Runtime,
        auth: KeycardAuth,
        registry: ToolRegistry,
        *,
        new_provider: Callable[[LoadedConfig], AuthProvider],
        announce: Callable[[], Awaitable[object]],
        request_restart: Callable[[str], None] | None = None,
        read: Callable[[Path], LoadedConfig] | None = None,
    ) -> None:
        self.path = loaded.path
        self._read = read or _read
        self.status = ReloadStatus(sha256=loaded.sha256, loaded_at=time.time())
        self._runtime = runtime
        self._auth = auth
        self._registry = registry
        self._new_provider = new_provider
        self._announce = announce
        self._request_restart = request_restart
        self._lock = asyncio.Lock()

    async def reload(self, *, reimport: Sequence[str] = ()) -> str:
        """Reload now; returns a one-line account of what happened."""
        if reimport and self._runtime.current.loaded.app is not None:
            # An adopted app registered its functions at import time; re-importing its module
            # would build a second app, not change the one being served.
            return self._restart(f"app module {', '.join(reimport)} changed")
        async with self._lock:
            try:
                loaded = await asyncio.to_thread(self._load, tuple(reimport))
            except ConfigError as exc:
                # Published without the directory: /healthz needs no token.
                return self._failed(str(exc), str(exc).replace(f"{self.path.parent}{os.sep}", ""))
            except (Exception, SystemExit) as exc:  # user code raised while being re-imported
                where = _user_frame(exc)
                summary = f"re-importing {', '.join(reimport)} failed: {type(exc).__name__}{where}"
                return self._failed(f"{summary}: {exc!r}", summary)
            try:
                outcome = await self._apply(loaded, reimported=bool(reimport))
            except KeycardServeError as exc:
                return self._failed(exc.message, exc.message)
        logger.info("%s", outcome)
        return outcome

    def _restart(self, why: str) -> str:
        if self._request_restart is None:
            return self._failed(f"{why}: restart keycard-serve to apply it", why)
        logger.warning("%s: a clean re-import is impossible, restarting the process", why)
        _metrics.record_config_reload("restart", in_sync=False)
        self._request_restart(why)
        return f"{why}: restarting"

    def _load(self, reimport: tuple[str, ...]) -> LoadedConfig:
        for name in reimport:
            module = sys.modules.get(name)
            if module is not None:
                importlib.reload(module)
        return self._read(self.path)

    def _failed(self, message: str, public: str) -> str:
        if public != self.status.last_error:  # say it once, not on every save
            logger.error("config not reloaded; still serving the last good one:\n%s", message)
        self.status.last_error = public
        self.status.last_error_at = time.time()
        _metrics.record_config_reload("failed", in_sync=False)
        return "reload failed; the last good config keeps serving"

    async def _apply(self, loaded: LoadedConfig, *, reimported: bool) -> str:
        current = self._runtime.current
        # Same bytes can still mean new values: a *_file secret rotated in its own volume.
        same_bytes = loaded.sha256 == current.loaded.sha256
        unchanged = same_bytes and loaded.config == current.loaded.config
        if unchanged and not reimported:
            self.status.last_error = self.status.last_error_at = None
            _metrics.record_config_reload("unchanged", in_sync=True)
            return "config unchanged"
        old, new = current.loaded.config, loaded.config
        notes = []
        restart = [
            f"server.{f}"
            for f in _RESTART_FIELDS
            if getattr(old.server, f) != getattr(new.server, f)
        ]
        # The development zone runs inside this process: starting or stopping it is a restart.
        dev_toggled = old.zone.dev != new.zone.dev
        # Listeners, the audit file and the span exporter are set up once, at start.
        if old.observability != new.observability:
            restart.append("observability")
        pending = tuple(restart + (["zone.dev"] if dev_toggled else []))
        if pending:
            notes.append(f"{', '.join(pending)} changed: restart keycard-serve to apply it")
            logger.warning("%s", notes[-1])
            loaded = _keep(loaded, current.loaded, zone=dev_toggled)
            new = loaded.config
        provider = current.provider
        scopes = tuple(advertised_scopes(loaded))
        if (old.zone, old.credentials, old.cache) != (new.zone, new.credentials, new.cache):
            # A new provider (its scopes given to its constructor) and its description.
            provider = self._new_provider(loaded)
            self._auth.rebind(provider, provider.protected_resource)
            _close_later(current.provider)
            if (old.zone, old.credentials) != (new.zone, new.credentials):
                notes.append("zone or credentials changed: discovery, keys and tokens flushed")
            else:
                notes.append("cache changed: a new shared token cache, in-process tokens flushed")
        elif (scopes, new.server.name) != (
            self._auth.resource.scopes_supported,
            self._auth.resource.name,
        ):
            # Same zone: the provider and its caches stay; only the published description
            # (RFC 9728 scopes_supported and resource_name) changes, handed over whole.
            resource = replace(self._auth.resource, scopes_supported=scopes, name=new.server.name)
            self._auth.rebind(provider, resource)
        self._runtime.swap(Snapshot.of(loaded, provider))
        changes = self._registry.reconcile(loaded)
        if changes.tool_list_changed:
            await self._announce()
            notes.append(changes.describe())
        self.status.sha256 = loaded.sha256
        self.status.loaded_at = time.time()
        self.status.reloads += 1
        self.status.restart_pending = pending
        self.status.last_error = self.status.last_error_at = None
        in_sync = not (restart or dev_toggled)
        _metrics.record_config_reload("ok", in_sync=in_sync)
        if in_sync:
            _metrics.record_config_loaded(self.status.loaded_at)
        return "reloaded " + str(self.path) + ("; " + "; ".join(notes) if notes else "")


def _read(path: Path) -> LoadedConfig:
    return import_tools(load_config(path))


def _keep(loaded: LoadedConfig, previous: LoadedConfig, *, zone: bool) -> LoadedConfig:
    """``loaded`` with the server section (and, if ``zone``, the zone) actually serving."""
    update = {"server": previous.config.server, "observability": previous.config.observability}
    if zone:
        update.update(zone=previous.config.zone, credentials=previous.config.credentials)
    return replace(loaded, config=loaded.config.model_copy(update=update))


def _user_frame(exc: BaseException) -> str:
    """`` at file:line`` of the innermost frame of the failure, for a one-line report."""
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" at {Path(exc.filename).name}:{exc.lineno}"
    return f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""


# The loop keeps only weak references to tasks: a close task nobody holds could vanish.
_closing: set[asyncio.Task[None]] = set()


def _close_later(provider: AuthProvider) -> asyncio.Task[None]:
    async def close() -> None:
        await asyncio.sleep(_OLD_PROVIDER_GRACE)
        await provider.aclose()

    task = asyncio.get_running_loop().create_task(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)
    return task
