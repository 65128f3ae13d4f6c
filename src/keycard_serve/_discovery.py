"""Authorization-server metadata discovery (RFC 8414, falling back to OpenID Connect).

Discovery runs on first use, never in a constructor; results are cached for a TTL, refreshed
by one shared fetch, and a failed refresh keeps serving the last good document. One discovery
(every candidate URL and retry) has one overall deadline, and a failure with nothing cached is
remembered for ``failure_ttl`` seconds, so a zone that hangs costs each request at most the
deadline once and then nothing until the next attempt. Client
credentials are never sent to a metadata endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from ._http import HTTPFailure, request_json
from ._metrics import record_discovery_fetch
from ._singleflight import SingleFlight
from ._tracing import SPAN_DISCOVERY, traced_fetch
from ._urls import is_loopback_host, same_issuer, well_known_url
from .errors import DiscoveryError

__all__ = ["AuthorizationServerMetadata", "ZoneDiscovery", "metadata_candidates"]

logger = logging.getLogger("keycard_serve._discovery")

_MAX_METADATA_BYTES = 256 * 1024
_RETRY_DELAYS = (0.2, 0.6)


@dataclass(frozen=True)
class AuthorizationServerMetadata:
    """The fields we use from a validated metadata document, plus the document itself."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    source_url: str
    document: dict[str, Any] = field(repr=False)


def metadata_candidates(zone_url: str) -> list[str]:
    """Metadata URLs in the order RFC 8414 and OIDC Discovery say to try them."""
    candidates = [
        well_known_url(zone_url, "oauth-authorization-server"),
        well_known_url(zone_url, "openid-configuration"),
        zone_url.rstrip("/") + "/.well-known/openid-configuration",
    ]
    return list(dict.fromkeys(candidates))


class ZoneDiscovery:
    """Cached, validated metadata of one authorization server."""

    def __init__(
        self,
        zone_url: str,
        client_factory: Callable[[], httpx.AsyncClient],
        *,
        ttl: float = 3600.0,
        timeout: float = 5.0,
        failure_ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``timeout`` bounds one whole discovery (seconds, every URL and retry included);
        ``failure_ttl`` is how long a failure is answered from memory (seconds); ``clock``
        is monotonic seconds."""
        self.zone_url = zone_url
        self._client_factory = client_factory
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._failure_ttl = failure_ttl
        self._cached: AuthorizationServerMetadata | None = None
        self._fetched_at = 0.0
        self._failure: DiscoveryError | None = None
        self._failed_at = 0.0
        self._refreshing: SingleFlight[AuthorizationServerMetadata] = SingleFlight()

    def current(self) -> AuthorizationServerMetadata | None:
        """The cached metadata while it is fresh, else None; never does I/O."""
        if self._cached is not None and self._clock() - self._fetched_at < self._ttl:
            return self._cached
        return None

    async def metadata(self) -> AuthorizationServerMetadata:
        """The current metadata; raises ``DiscoveryError`` only if none was ever loaded."""
        current = self.current()
        if current is not None:
            return current
        failure = self._failure
        if failure is not None and self._clock() - self._failed_at < self._failure_ttl:
            raise DiscoveryError(f"{failure.message} (failed recently)", code=failure.code)
        return await self._refreshing.run(None, self._refresh)

    async def _refresh(self) -> AuthorizationServerMetadata:
        try:
            metadata = await self._discover_within_deadline()
        except DiscoveryError as exc:
            if self._cached is None:
                self._failure, self._failed_at = exc, self._clock()
                raise
            logger.warning(
                "metadata refresh for %s failed; serving the cached document", self.zone_url
            )
            # Back off for a while rather than refetching on every request.
            self._fetched_at = self._clock() - self._ttl + min(self._ttl, 30.0)
            return self._cached
        self._cached, self._failure = metadata, None
        self._fetched_at = self._clock()
        return metadata

    async def _discover_within_deadline(self) -> AuthorizationServerMetadata:
        try:
            with anyio.fail_after(self._timeout):
                return await self._discover()
        except TimeoutError:
            raise DiscoveryError(
                f"no authorization-server metadata for {self.zone_url} within {self._timeout:g} s",
                code="metadata_timeout",
            ) from None

    async def _discover(self) -> AuthorizationServerMetadata:
        """Discover once, in a span; counted by result."""
        return await traced_fetch(
            SPAN_DISCOVERY,
            self._discover_once,
            record=record_discovery_fetch,
            url=self.zone_url,
            result_url=lambda metadata: metadata.source_url,
        )

    async def _discover_once(self) -> AuthorizationServerMetadata:
        problems: list[str] = []
        for url in metadata_candidates(self.zone_url):
            document = await self._fetch(url, problems)
            if document is not None:
                return _validate(self.zone_url, url, document)
        raise DiscoveryError(
            f"no usable authorization-server metadata for {self.zone_url}: " + "; ".join(problems),
            code="metadata_unavailable",
        )

    async def _fetch(self, url: str, problems: list[str]) -> dict[str, Any] | None:
        """One candidate URL, retrying transient failures; None moves on to the next."""
        for attempt in range(len(_RETRY_DELAYS) + 1):
            try:
                result = await request_json(
                    self._client_factory(),
                    "GET",
                    url,
                    max_bytes=_MAX_METADATA_BYTES,
                    deadline=self._timeout,
                    headers={"Accept": "application/json"},
                )
            except HTTPFailure as exc:
                if exc.reason in ("network", "timeout") and attempt < len(_RETRY_DELAYS):
                    await asyncio.sleep(_RETRY_DELAYS[attempt])
                    continue
                problems.append(f"{url}: {exc}")
                return None
            if result.status >= 500 and attempt < len(_RETRY_DELAYS):
                await asyncio.sleep(_RETRY_DELAYS[attempt])
                continue
            if result.status != 200:
                problems.append(f"{url}: HTTP {result.status}")
                return None
            if not isinstance(result.body, dict):
                problems.append(f"{url}: not a JSON object")
                return None
            return result.body
        return None


def _validate(zone_url: str, source: str, document: dict[str, Any]) -> AuthorizationServerMetadata:
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or not same_issuer(zone_url, issuer):
        raise DiscoveryError(
            f"metadata at {source} names issuer {issuer!r}, not the zone {zone_url!r} "
            "(RFC 8414 section 3.3); refusing to use it",
            code="issuer_mismatch",
        )
    endpoints = {}
    for name in ("token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str) or not _acceptable_endpoint(value, zone_url):
            raise DiscoveryError(
                f"metadata at {source} has no usable {name} "
                "(https, or plain http only when the zone itself is on loopback)",
                code=f"invalid_{name}",
            )
        endpoints[name] = value
    return AuthorizationServerMetadata(
        issuer=issuer,
        token_endpoint=endpoints["token_endpoint"],
        jwks_uri=endpoints["jwks_uri"],
        source_url=source,
        document=document,
    )


def _acceptable_endpoint(url: str, zone_url: str) -> bool:
    """Credentials and assertions go to these URLs: https, or http for a loopback zone."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    zone_is_local = is_loopback_host(urlsplit(zone_url).hostname)
    return parts.scheme == "http" and zone_is_local and is_loopback_host(parts.hostname)
