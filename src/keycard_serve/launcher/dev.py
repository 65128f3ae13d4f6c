"""The embedded development zone of a config: where its state lives, which port it keeps.

State (signing key, registered clients, the chosen port) lives per config file under
``$KEYCARD_SERVE_STATE_DIR`` (default ``~/.local/state/keycard-serve``), so a restarted server
keeps its issuer and keys — clients stay signed in — and ``keycard-serve token`` can mint
tokens for it from another process.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..config import LoadedConfig
from ..config._provider import advertised_scopes
from ..devzone import DevZone
from ._ports import free_port

__all__ = ["dev_zone_for", "state_dir_for"]


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
