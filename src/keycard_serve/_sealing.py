"""Entries of the shared token cache: named by a hash, sealed with AES-GCM.

Whoever can read the store (an operator, a backup, a neighbour on a shared instance) must
learn nothing from it, and whoever can write to it must not be able to plant a token:

- an entry's name is ``keycard-serve:<namespace>:<sha256 hex>`` of the in-process cache key
  (itself a hash of the caller token with the resource, scopes and client id), so no token,
  user id or resource appears in clear;
- its value is ``version byte || 96-bit random nonce || AES-256-GCM ciphertext and tag``, with
  the version byte and the entry's name as associated data: an entry copied to another name,
  planted, truncated or sealed with an unknown key does not open, and is a miss.

Keys rotate: the first key seals, every key opens (add the new key second everywhere, then move
it first, then drop the old one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import string
from collections.abc import Hashable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KEY_BYTES", "Sealer", "default_namespace", "entry_name", "parse_encryption_key"]

KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_MAX_SEALED_BYTES = 64 * 1024
_NAMESPACE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PRINTABLE = frozenset(string.printable.encode())
_NAME_DOMAIN = b"keycard-serve shared token cache entry v1\x00"


def parse_encryption_key(text: str) -> bytes:
    """The 32-byte AES-256 key written in ``text`` (standard or URL-safe base64).

    Raises ``ValueError`` (whose message never contains the key) when ``text`` is not base64,
    does not decode to exactly 32 bytes, or decodes to text rather than random bytes (a
    passphrase is not a key: generate one with ``openssl rand -base64 32``).
    """
    compact = "".join(text.split())
    try:
        key = base64.b64decode(
            compact.replace("-", "+").replace("_", "/") + "=" * (-len(compact) % 4),
            validate=True,
        )
    except (binascii.Error, ValueError):
        raise ValueError(
            "not base64: an encryption key is 32 random bytes in base64 "
            "(generate one with `openssl rand -base64 32`)"
        ) from None
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"an encryption key is {KEY_BYTES} random bytes in base64, this one decodes to "
            f"{len(key)} bytes (generate one with `openssl rand -base64 32`)"
        )
    if set(key) <= _PRINTABLE or len(set(key)) < 8:
        raise ValueError(
            "this encryption key decodes to text or a repeated pattern, not random bytes "
            "(generate one with `openssl rand -base64 32`)"
        )
    return key


def default_namespace(base_url: str) -> str:
    """A readable namespace for a server's entries: its base URL's host, port and path.

    ``https://mcp.example.com/tools/`` gives ``mcp.example.com-tools``.
    """
    rest = base_url.split("://", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", rest.lower()).strip("-")
    return name[:64].rstrip("-") or "default"


def entry_name(namespace: str, cache_key: Sequence[Hashable]) -> str:
    """The store's name for the entry of ``cache_key`` (a tuple of strings and tuples).

    Raises ``ValueError`` for a namespace outside ``[A-Za-z0-9._-]{1,64}``.
    """
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError("a cache namespace is 1 to 64 characters among A-Z a-z 0-9 . _ -")
    canonical = json.dumps([namespace, list(cache_key)], separators=(",", ":"))
    digest = hashlib.sha256(_NAME_DOMAIN + canonical.encode()).hexdigest()
    return f"keycard-serve:{namespace}:{digest}"


class Sealer:
    """AES-256-GCM sealing bound to the entry's name; the first key seals, all keys open."""

    __slots__ = ("_aeads",)

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        if any(len(key) != KEY_BYTES for key in keys):
            raise ValueError(f"encryption keys are {KEY_BYTES} bytes each")
        self._aeads = tuple(AESGCM(bytes(key)) for key in keys)

    def __repr__(self) -> str:
        return f"Sealer(<{len(self._aeads)} keys>)"

    def seal(self, name: str, plaintext: bytes) -> bytes:
        """``plaintext`` encrypted under the first key, bound to ``name``."""
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aeads[0].encrypt(nonce, plaintext, _VERSION + name.encode())

    def open(self, name: str, sealed: bytes) -> bytes | None:
        """The plaintext of ``sealed`` if some key opens it as the entry ``name``, else None."""
        if (
            not sealed.startswith(_VERSION)
            or len(sealed) < len(_VERSION) + _NONCE_BYTES + _TAG_BYTES
            or len(sealed) > _MAX_SEALED_BYTES
        ):
            return None
        nonce = sealed[len(_VERSION) : len(_VERSION) + _NONCE_BYTES]
        ciphertext = sealed[len(_VERSION) + _NONCE_BYTES :]
        associated = _VERSION + name.encode()
        for aead in self._aeads:
            try:
                return aead.decrypt(nonce, ciphertext, associated)
            except InvalidTag:
                continue
        return None
