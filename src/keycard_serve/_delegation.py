"""Turn the caller's token into an ``AccessContext``: one exchange per granted resource.

Exchanges run concurrently; each resource succeeds or fails on its own, so one unreachable
API never costs a tool the tokens it did get.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ._exchange import TokenExchanger
from ._exchange_cache import ExchangeCache, cache_key
from .access_context import AccessContext, ExchangedToken
from .errors import TokenExchangeError

__all__ = ["Delegator", "Grant", "normalize_grants"]

logger = logging.getLogger("keycard_serve._delegation")


@dataclass(frozen=True)
class Grant:
    """One resource a tool may reach, and the scopes to request for it (RFC 8693 ``scope``)."""

    resource: str
    scopes: tuple[str, ...] = ()


def normalize_grants(
    resources: str | Grant | Iterable[str | Grant],
    scopes: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
) -> tuple[Grant, ...]:
    """Grants from the decorator's arguments: a resource, a list of them, or ``Grant`` objects.

    ``scopes`` is one list for every resource or a ``{resource: scopes}`` mapping.
    """
    items = [resources] if isinstance(resources, str | Grant) else list(resources)
    if not items:
        raise ValueError("grant() needs at least one resource")
    grants: dict[str, Grant] = {}
    for item in items:
        if isinstance(item, Grant):
            grant = item
        elif isinstance(item, str) and item:
            if isinstance(scopes, Mapping):
                requested = tuple(scopes.get(item, ()))
            else:
                requested = tuple(scopes or ())
            grant = Grant(item, requested)
        else:
            raise TypeError(f"grant() resources must be non-empty strings, not {item!r}")
        if grant.resource in grants:
            raise ValueError(f"resource {grant.resource!r} is granted twice")
        grants[grant.resource] = grant
    return tuple(grants.values())


class Delegator:
    """Exchanges one caller token for many resources, through the cache."""

    def __init__(self, exchanger: TokenExchanger, cache: ExchangeCache) -> None:
        self._exchanger = exchanger
        self._cache = cache

    async def access_for(
        self, subject_token: str | None, expires_at: float | None, grants: Sequence[Grant]
    ) -> AccessContext:
        if not subject_token:
            return AccessContext.failed(
                "No authenticated caller token: the request did not pass through Keycard "
                "authentication (in-memory clients and stdio carry none)",
                code="no_token",
            )
        if expires_at is not None and expires_at <= time.time():
            return AccessContext.failed("The caller's token has expired", code="token_expired")
        results = await asyncio.gather(
            *(self._one(subject_token, expires_at, grant) for grant in grants),
            return_exceptions=True,
        )
        tokens: dict[str, ExchangedToken] = {}
        errors: dict[str, dict] = {}
        for grant, result in zip(grants, results, strict=True):
            if isinstance(result, ExchangedToken):
                tokens[grant.resource] = result
            elif isinstance(result, TokenExchangeError):
                logger.warning(
                    "token exchange for %s failed: code=%s status=%s",
                    grant.resource,
                    result.code,
                    result.status,
                )
                errors[grant.resource] = result.as_dict()
            elif isinstance(result, Exception):
                logger.error(
                    "token exchange for %s raised %s",
                    grant.resource,
                    type(result).__name__,
                    exc_info=result,
                )
                errors[grant.resource] = {
                    "message": f"Token exchange for {grant.resource} failed unexpectedly",
                    "code": "internal_error",
                    "resource": grant.resource,
                    "retryable": False,
                }
            else:  # BaseException (cancellation): not ours to swallow
                raise result
        return AccessContext(tokens, resource_errors=errors)

    async def _one(self, subject_token: str, expires_at: float | None, grant: Grant):
        key = cache_key(subject_token, grant.resource, grant.scopes, self._exchanger.client_id)
        return await self._cache.get_or_exchange(
            key,
            lambda: self._exchanger.exchange(subject_token, grant.resource, grant.scopes),
            not_after=expires_at,
        )
