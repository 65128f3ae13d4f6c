"""The shared tier of exchanged tokens: sealed entries in Redis or Valkey.

Replicas and workers of one server look here after a miss of their in-process cache and write
here after an exchange, so one user's token is exchanged once per resource for all of them.
The store is an optimisation, never a dependency: an operation that fails, takes longer than
``timeout`` seconds, or finds the store full is a miss (or a skipped write); after
``breaker_threshold`` such failures in a row the store is not asked for ``breaker_reset``
seconds; the log says so once when that starts and once when the store answers again. An entry
is never served past its ``valid_until`` (epoch seconds, sealed inside it), whatever the store's
own expiry says.

Client: redis-py's asyncio client, which speaks the protocol Redis and Valkey share; a
``valkey://`` URL is the same protocol under another scheme. It is imported when a cache is
built (0.2 s), not by the config reader, which only needs ``parse_cache_url``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from ._circuit import CircuitBreaker
from ._sealing import Sealer, entry_name

__all__ = ["CACHE_URL_SCHEMES", "DEFAULT_TIMEOUT", "SharedTokenCache", "parse_cache_url"]

logger = logging.getLogger("keycard_serve.cache")

DEFAULT_TIMEOUT = 0.1
CACHE_URL_SCHEMES = {"redis": "redis", "rediss": "rediss", "valkey": "redis", "valkeys": "rediss"}

R = TypeVar("R")


def parse_cache_url(url: str) -> str:
    """The redis-py form of a store URL (``valkey://`` becomes ``redis://``, ``valkeys://``
    ``rediss://``); nothing is contacted.

    Raises ``ValueError`` (whose message never repeats the URL, which may hold a password) for
    another scheme, a missing host, a bad port or a database that is not a number.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL (is the port a number from 1 to 65535?)") from None
    scheme = CACHE_URL_SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(
            f"unsupported scheme {parts.scheme + '://' if parts.scheme else '(none)'}; "
            "use redis://, rediss://, valkey:// or valkeys://"
        )
    if not parts.hostname:
        raise ValueError("the URL names no host (redis://HOST:PORT/DB)")
    if port == 0:
        raise ValueError("port 0 is not a port a store listens on")
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise ValueError("the database (the URL's path) must be a number, e.g. redis://host/0")
    return scheme + url[len(parts.scheme) :]


def _reason(exc: BaseException) -> str:
    """What went wrong, without the server's message (which may quote a key or a value)."""
    from redis.exceptions import ResponseError

    if type(exc) is ResponseError and str(exc):
        return f"ResponseError {str(exc).split()[0]}"  # the error code: READONLY, WRONGTYPE...
    return type(exc).__name__


class SharedTokenCache(Generic[R]):
    """Sealed, expiring records in Redis or Valkey, for every process of one server.

    ``record_type`` is a dataclass (``ExchangedToken``); records travel as JSON of its fields,
    tuples as lists. ``encryption_keys`` are 32-byte keys (``parse_encryption_key``): the first
    seals, all open. ``namespace`` separates servers sharing a store (``default_namespace``);
    ``context`` (the zone and how it is asked, see ``AuthProvider``) is part of every entry's
    name, so a server whose zone or exchange settings changed never reads entries made under the
    old ones (a reload, or old and new replicas during a rolling update).
    Constructing connects to nothing; ``aclose()`` releases the connections.
    """

    def __init__(
        self,
        url: str,
        *,
        encryption_keys: Sequence[bytes],
        namespace: str,
        record_type: type[R],
        context: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        breaker_threshold: int = 3,
        breaker_reset: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not dataclasses.is_dataclass(record_type):
            raise TypeError("record_type must be a dataclass")
        if timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        redis_url = parse_cache_url(url)
        entry_name(namespace, ())  # raises ValueError for a bad namespace, before serving
        self._sealer = Sealer(encryption_keys)
        self._namespace = namespace
        self._context = context
        self._record_type = record_type
        self._fields = frozenset(field.name for field in dataclasses.fields(record_type))
        self._timeout = timeout
        self._clock = clock
        self._breaker = CircuitBreaker(threshold=breaker_threshold, reset_after=breaker_reset)
        self._breaker_reset = breaker_reset
        self._unavailable = False
        self._warned_unopened = False
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        parts = urlsplit(redis_url)
        self._where = f"{parts.hostname}:{parts.port or 6379}"  # never the password
        self._client = Redis.from_url(
            redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # the in-process tier and the exchange are the retry
        )

    @property
    def where(self) -> str:
        """``host:port`` of the store, for messages (never the URL, which may hold a password)."""
        return self._where

    def __repr__(self) -> str:
        return f"SharedTokenCache(store={self._where!r}, namespace={self._namespace!r})"

    def entry_name(self, key: Sequence[Hashable]) -> str:
        """The store's name for ``key``: a hash of the namespace, the context and the key."""
        return entry_name(self._namespace, (self._context, *key))

    async def get(self, key: Sequence[Hashable]) -> R | None:
        """The record stored for ``key`` (the in-process cache key), or None.

        None also when the store is unavailable or its breaker open, when the entry does not
        open with any key, or when its ``valid_until`` has passed. Never raises for the store.
        """
        name = self.entry_name(key)
        sealed = await self._call(lambda: self._client.get(name))
        if not isinstance(sealed, bytes):
            return None
        plaintext = self._sealer.open(name, sealed)
        if plaintext is None:
            self._refused()
            return None
        return self._decode(plaintext)

    async def put(self, key: Sequence[Hashable], record: R, ttl: float) -> None:
        """Store ``record`` for ``key`` for ``ttl`` seconds (nothing when ``ttl`` <= 0).

        ``ttl`` is the caller's: the earlier of the delegated and the caller token's expiry,
        minus the skew. Never raises for the store.
        """
        if ttl <= 0:
            return
        name = self.entry_name(key)
        fields = {field: getattr(record, field) for field in self._fields}
        plaintext = json.dumps(
            {"valid_until": self._clock() + ttl, "record": fields}, separators=(",", ":")
        ).encode()
        sealed = self._sealer.seal(name, plaintext)
        milliseconds = max(1, math.ceil(ttl * 1000))
        await self._call(lambda: self._client.set(name, sealed, px=milliseconds))

    async def ping(self) -> bool:
        """Whether the store answers a PING within the timeout (for readiness and
        ``validate --online``); the breaker is consulted and updated as for any operation."""
        return bool(await self._call(self._client.ping))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, operation: Callable[[], Any]) -> Any:
        if self._breaker.retry_in() > 0:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                result = await operation()
        except Exception as exc:  # the store never fails a call: any failure is a miss
            self._breaker.record(healthy=False)
            if not self._unavailable and self._breaker.retry_in() > 0:
                self._unavailable = True
                logger.warning(
                    "shared token cache at %s unavailable (%s): tokens come from the "
                    "in-process cache or a direct exchange; asking the store again every %g s",
                    self._where,
                    _reason(exc),
                    self._breaker_reset,
                )
            return None
        self._breaker.record(healthy=True)
        if self._unavailable:
            self._unavailable = False
            logger.warning("shared token cache at %s answers again", self._where)
        return result

    def _refused(self) -> None:
        if self._warned_unopened:
            logger.debug("a shared token cache entry did not open; treated as a miss")
            return
        self._warned_unopened = True
        logger.warning(
            "a shared token cache entry did not open (tampered with, or sealed with a key "
            "missing from cache.encryption_keys): treated as a miss; further ones are "
            "logged at debug level"
        )

    def _decode(self, plaintext: bytes) -> R | None:
        try:
            document = json.loads(plaintext)
            if self._clock() >= float(document["valid_until"]):
                return None
            fields = document["record"]
            if not isinstance(fields, dict) or not set(fields) <= self._fields:
                return None
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
            return self._record_type(**values)
        except (ValueError, TypeError, KeyError):
            return None  # sealed by a version of ours with another record shape
