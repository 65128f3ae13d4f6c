"""The embedded development zone of a config: where its state lives, which port it keeps.

State (signing key, registered clients, the chosen port) lives per config file under
``$KEYCARD_SERVE_STATE_DIR`` (default ``~/.local/state/keycard-serve``), so a restarted server
keeps its issuer and keys — clients stay signed in — and ``keycard-serve token`` can mint
tokens for it from another process. A served server records there the MCP URL it serves and
the user it signs in, so ``token`` mints what that server accepts.

``keycard-serve dev`` serves any config: ``load_config(dev=True)`` replaces its zone, and
``as_dev`` moves a server whose ``base_url`` is not on loopback to loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .._urls import is_loopback_host
from ..config import LoadedConfig, import_tools, load_config
from ..config._provider import advertised_scopes
from ..devzone import DevZone
from ._ports import free_port

__all__ = [
    "DEV_PORT",
    "LastServed",
    "as_dev",
    "dev_reader",
    "dev_zone_for",
    "last_served",
    "remember_served",
    "state_dir_for",
]

DEV_PORT = 8000
"""Where ``dev`` serves a config whose ``base_url`` is not on loopback and names no port."""


def state_dir_for(config_path: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """The dev zone's state directory for ``config_path``."""
    root = environ.get("KEYCARD_SERVE_STATE_DIR")
    base = Path(root) if root else Path.home() / ".local" / "state" / "keycard-serve"
    digest = hashlib.sha256(str(config_path.resolve()).encode()).hexdigest()[:16]
    return base / "devzone" / f"{config_path.stem}-{digest}"


def dev_zone_for(loaded: LoadedConfig, environ: Mapping[str, str] = os.environ) -> DevZone:
    """The config's development zone (not started), on its configured or remembered port."""
    dev = loaded.config.zone.dev
    assert dev is not None, "not a dev-zone config"
    state_dir = state_dir_for(loaded.path, environ)
    return DevZone(
        port=dev.port or _remembered_port(state_dir),
        state_dir=state_dir,
        user=dev.user,
        default_resource=loaded.config.server.mcp_url,
        scopes=advertised_scopes(loaded),
    )


def _remembered_port(state_dir: Path) -> int:
    """The port picked on first use; kept so the issuer (and clients' tokens) survive restarts."""
    record = state_dir / "port.json"
    try:
        return int(json.loads(record.read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        port = free_port()
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        record.write_text(json.dumps({"port": port}))
        return port


def as_dev(
    loaded: LoadedConfig, *, user: str | None = None, port: int | None = None
) -> LoadedConfig:
    """``loaded`` (read with ``load_config(dev=True)``) as ``keycard-serve dev`` serves it.

    ``user`` replaces the development zone's user. A ``base_url`` whose host is not on loopback
    (``https://mcp.example.com/``) becomes ``http://127.0.0.1:PORT/`` (a proxy's path prefix
    dropped), PORT being ``port``, else ``server.port``, else ``DEV_PORT``; a loopback one gets
    ``port`` if given. Tokens are then minted for, and checked against, the URL that
    is actually served. A ``server.host`` beyond loopback is dropped: the development zone
    listens on loopback only.
    """
    config = loaded.config
    dev = config.zone.dev
    assert dev is not None, "read with load_config(dev=True)"
    if user is not None:
        dev = dev.model_copy(update={"user": user})
    server = config.server
    update: dict[str, object] = {}
    if server.host is not None and not is_loopback_host(server.host):
        update["host"] = None
    parts = urlsplit(server.base_url)
    if port is not None or not is_loopback_host(parts.hostname):
        if is_loopback_host(parts.hostname):
            scheme, host, path = parts.scheme, parts.hostname or "127.0.0.1", parts.path
        else:
            # A public base URL's path is a reverse proxy's prefix: no proxy here.
            scheme, host, path = "http", "127.0.0.1", "/"
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        chosen = port or server.port or DEV_PORT
        update["base_url"] = urlunsplit((scheme, f"{host}:{chosen}", path, "", ""))
        update["port"] = None
    zone = config.zone.model_copy(update={"dev": dev})
    changed = {"zone": zone, "server": server.model_copy(update=update)}
    return replace(loaded, config=config.model_copy(update=changed))


def dev_reader(
    *, user: str | None = None, port: int | None = None
) -> Callable[[Path], LoadedConfig]:
    """How a ``dev`` server reads its config again on reload: as it read it at start."""

    def read(path: Path) -> LoadedConfig:
        return import_tools(as_dev(load_config(path, dev=True), user=user, port=port))

    return read


@dataclass(frozen=True)
class LastServed:
    """What a server on a config's development zone served: its MCP URL and signed-in user."""

    mcp_url: str
    user: str


def remember_served(loaded: LoadedConfig, environ: Mapping[str, str] = os.environ) -> None:
    """Record, in the config's dev-zone state, the MCP URL and the user ``loaded`` serves."""
    dev = loaded.config.zone.dev
    assert dev is not None, "not a dev-zone config"
    state_dir = state_dir_for(loaded.path, environ)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    record = {"mcp_url": loaded.config.server.mcp_url, "user": dev.user}
    (state_dir / "served.json").write_text(json.dumps(record))


def last_served(loaded: LoadedConfig, environ: Mapping[str, str] = os.environ) -> LastServed | None:
    """What the last server on ``loaded``'s development zone served, if one ever started."""
    try:
        record = json.loads((state_dir_for(loaded.path, environ) / "served.json").read_text())
        return LastServed(str(record["mcp_url"]), str(record["user"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
