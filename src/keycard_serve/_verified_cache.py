"""A bounded memory of bearer tokens the verifier accepted, so a warm call skips the crypto.

An MCP client sends the same access token on every call; verifying it costs a JSON parse and
an RSA or ECDSA signature check (about 0.1 ms) each time. A verdict is remembered under the
SHA-256 of the token, never the token itself, and only for as long as every check would
still pass: from ``iat``/``nbf`` minus the leeway until ``exp`` (never past it), and only
while the key resolver still returns the very key object that verified the signature, so a
key that leaves the JWKS (or any refresh of the key set) sends the token through the full
verification again. Refused tokens are never stored. The cache belongs to one verifier, so a
new configuration (a new verifier) starts empty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["VerifiedEntry", "VerifiedTokenCache", "token_digest"]


V = TypeVar("V")


def token_digest(token: str) -> bytes:
    """The cache key of ``token``: its SHA-256, so no token sits in memory longer than a call."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class VerifiedEntry(Generic[V]):
    """One accepted token: its JOSE header, the key that verified it, and the verdict.

    ``valid_from`` and ``valid_until`` are epoch seconds; the entry serves a lookup only when
    ``valid_from <= now < valid_until``.
    """

    header: Mapping[str, Any]
    key: object
    verdict: V
    valid_from: float
    valid_until: float


class VerifiedTokenCache(Generic[V]):
    """At most ``max_entries`` verdicts, the oldest dropped first when full.

    Eviction is by insertion order (a plain ``dict``), which costs nothing per hit; an entry
    past ``valid_until`` is dropped when next looked up.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries <= 0:
            raise ValueError("max_entries must be a positive integer")
        self._max_entries = max_entries
        self._entries: dict[bytes, VerifiedEntry[V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes, now: float) -> VerifiedEntry[V] | None:
        """The entry for ``digest`` if it is valid at ``now`` (epoch seconds); else None."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.valid_from <= now < entry.valid_until:
            return entry
        if now >= entry.valid_until:
            self._entries.pop(digest, None)
        return None

    def put(self, digest: bytes, entry: VerifiedEntry[V], now: float) -> None:
        """Remember ``entry`` unless it is already expired at ``now``."""
        if now >= entry.valid_until:
            return
        entries = self._entries
        if digest not in entries and len(entries) >= self._max_entries:
            del entries[next(iter(entries))]
        entries[digest] = entry

    def discard(self, digest: bytes) -> None:
        """Forget ``digest`` (its key is gone or no longer the one that verified it)."""
        self._entries.pop(digest, None)

    def clear(self) -> None:
        """Forget every verdict."""
        self._entries.clear()
