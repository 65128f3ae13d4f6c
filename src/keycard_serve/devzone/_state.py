"""Files in the zone's state directory: private (0600) and written whole or not at all.

The key and the server client are written *once*: when two processes start on an empty state
directory at the same moment (the launcher and ``keycard-serve token``), the first file to land
wins and both processes use it, so neither ends up holding a key or secret nobody else has.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigurationError

__all__ = ["ensure_state_dir", "write_atomic", "write_once"]


def ensure_state_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed and return it resolved.

    Raises ``ConfigurationError`` if it cannot be created or is not a directory.
    """
    path = Path(path).expanduser()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create dev zone state directory {path}: {exc}") from exc
    if not path.is_dir():
        raise ConfigurationError(f"dev zone state directory {path} is not a directory")
    return path.resolve()


def write_once(path: Path, data: bytes) -> bytes:
    """Create ``path`` with ``data`` unless it exists; return what the file holds afterwards.

    Of several processes racing on an empty directory, the first link wins and every one of
    them returns its bytes.
    """
    try:
        _publish(path, data, os.link)
    except FileExistsError:
        return path.read_bytes()
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old file or the new one, never half."""
    _publish(path, data, os.replace)


def _publish(path: Path, data: bytes, put: Callable[[Path, Path], None]) -> None:
    """Write ``data`` to a private (0600) temporary file beside ``path``, fsync it, then
    ``put(temporary, path)``; the temporary name is gone afterwards whatever happened."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        put(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
