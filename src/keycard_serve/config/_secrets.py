"""Secrets kept in files next to the config (``client_secret_file``, ``private_key_file``).

A file is read once, at load time, so a bad path or an unusable key is a config error with a
line number instead of a failed token exchange later. Contents live in ``SecretStr`` and are
never part of a message.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import SecretStr

from .. import _algorithms

__all__ = ["SecretFile", "check_private_key", "loose_mode", "read_secret_file"]

_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class SecretFile:
    """A secret read from ``path``; ``value`` is its text without the final line break."""

    path: Path
    value: SecretStr


def read_secret_file(path: Path) -> SecretFile:
    """Read and decode the file, or ValueError saying why it cannot be used."""
    try:
        with path.open("rb") as stream:
            data = stream.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        raise ValueError(f"file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if len(data) > _MAX_BYTES:
        raise ValueError(f"file {str(path)!r} is larger than {_MAX_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"file {str(path)!r} is not UTF-8 text") from None
    if not text:
        raise ValueError(f"file {str(path)!r} is empty")
    return SecretFile(path, SecretStr(text))


def check_private_key(pem: SecretStr, algorithm: str) -> None:
    """ValueError unless ``pem`` is an unencrypted PEM private key that can sign ``algorithm``.

    What "can sign" means (key type, curve, RSA size) is ``keycard_serve._algorithms``'s
    rule, the one ``PrivateKeyJWT`` applies too.
    """
    try:
        key = load_pem_private_key(pem.get_secret_value().encode(), password=None)
    except TypeError:
        raise ValueError("the private key is encrypted; provide an unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("the file does not hold a PEM private key") from None
    _algorithms.check_private_key(key, algorithm)


def loose_mode(path: Path) -> int | None:
    """The permission bits of ``path`` when group or others may read it (POSIX only)."""
    if os.name != "posix":
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None
