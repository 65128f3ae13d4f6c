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
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from ..config import ConfigError, LoadedConfig, load_config
from ..fastmcp_auth import KeycardAuth
from ..provider import AuthProvider
from .assemble import advertised_scopes
from .runtime import Runtime, Snapshot
from .tools import ToolRegistry

__all__ = ["ReloadStatus", "Reloader"]

logger = logging.getLogger("keycard_serve.reload")

_RESTART_FIELDS = ("base_url", "host", "port", "path", "transport", "stateless")
_OLD_PROVIDER_GRACE = 60.0  # seconds in-flight calls may still use a replaced provider


@dataclass
class ReloadStatus:
    """What ``/healthz`` reports about configuration loading."""

    sha256: str
    loaded_at: float
    reloads: int = 0
    last_error: str | None = None
    last_error_at: float | None = None


class Reloader:
    """Reloads one config file into a running server."""

    def __init__(
        self,
        loaded: LoadedConfig,
        runtime: Runtime,
        auth: KeycardAuth,
        registry: ToolRegistry,
        *,
        new_provider: Callable[[LoadedConfig], AuthProvider],
        announce: Callable[[], Awaitable[object]],
    ) -> None:
        self.path = loaded.path
        self.status = ReloadStatus(sha256=loaded.sha256, loaded_at=time.time())
        self._runtime = runtime
        self._auth = auth
        self._registry = registry
        self._new_provider = new_provider
        self._announce = announce
        self._lock = asyncio.Lock()

    async def reload(self, *, reimport: Sequence[str] = ()) -> str:
        """Reload now; returns a one-line account of what happened."""
        async with self._lock:
            try:
                loaded = await asyncio.to_thread(self._load, tuple(reimport))
            except ConfigError as exc:
                return self._failed(str(exc))
            except Exception as exc:  # user code raised while being re-imported
                return self._failed(f"re-importing {', '.join(reimport)} failed: {exc!r}")
            outcome = await self._apply(loaded, reimported=bool(reimport))
        logger.info("%s", outcome)
        return outcome

    def _load(self, reimport: tuple[str, ...]) -> LoadedConfig:
        for name in reimport:
            module = sys.modules.get(name)
            if module is not None:
                importlib.reload(module)
        return load_config(self.path)

    def _failed(self, message: str) -> str:
        if message != self.status.last_error:  # say it once, not on every save
            logger.error("config not reloaded; still serving the last good one:\n%s", message)
        self.status.last_error = message
        self.status.last_error_at = time.time()
        return "reload failed; the last good config keeps serving"

    async def _apply(self, loaded: LoadedConfig, *, reimported: bool) -> str:
        current = self._runtime.current
        if loaded.sha256 == current.loaded.sha256 and not reimported:
            self.status.last_error = None
            return "config unchanged"
        old, new = current.loaded.config, loaded.config
        notes = []
        restart = [f for f in _RESTART_FIELDS if getattr(old.server, f) != getattr(new.server, f)]
        if restart or (old.zone.dev != new.zone.dev):
            what = ", ".join(f"server.{f}" for f in restart) or "zone.dev"
            notes.append(f"{what} changed: restart keycard-serve to apply it")
            logger.warning("%s", notes[-1])
            loaded = _keep_server(loaded, current.loaded)
            new = loaded.config
        provider = current.provider
        if (old.zone, old.credentials) != (new.zone, new.credentials) and new.zone.dev is None:
            provider = self._new_provider(loaded)
            self._auth.rebind(provider)
            _close_later(current.provider)
            notes.append("zone or credentials changed: discovery, keys and tokens flushed")
        provider.scopes_supported = advertised_scopes(loaded)
        self._runtime.swap(Snapshot.of(loaded, provider))
        changes = self._registry.reconcile(loaded)
        if changes.tool_list_changed:
            await self._announce()
            notes.append(changes.describe())
        self.status.sha256 = loaded.sha256
        self.status.loaded_at = time.time()
        self.status.reloads += 1
        self.status.last_error = None
        return "reloaded " + str(self.path) + ("; " + "; ".join(notes) if notes else "")


def _keep_server(loaded: LoadedConfig, previous: LoadedConfig) -> LoadedConfig:
    """``loaded`` with the server section (and dev zone) of the config actually serving."""
    config = loaded.config.model_copy(
        update={
            "server": previous.config.server,
            "zone": loaded.config.zone.model_copy(update={"dev": previous.config.zone.dev}),
        }
    )
    return replace(loaded, config=config)


def _close_later(provider: AuthProvider) -> None:
    async def close() -> None:
        await asyncio.sleep(_OLD_PROVIDER_GRACE)
        await provider.aclose()

    asyncio.get_running_loop().create_task(close())
