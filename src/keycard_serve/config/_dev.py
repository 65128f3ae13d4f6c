"""A config as ``keycard-serve dev`` reads it: the zone replaced by a development zone.

In dev mode the zone's ``url`` or ``id`` and the ``credentials`` section are never used (the
embedded development zone issues the tokens and is the server's zone), so they are dropped
before validation: their ``${VARS}`` need not be set and their secret files need not exist.
So are the settings that describe another authorization server's token and exchange shapes
(``exchange``, ``accepted_issuers``, ``accepted_audiences``, ``tokens_without_audience``,
``scope_claims``, ``scope_prefix``): the development zone issues RFC 9068 tokens and answers
RFC 8693 exchanges by ``resource``, so a Keycloak or Entra example is served as written.
The rest of the zone (``required_scopes``, ``scope_hierarchy``, token types) and every other
section are read as usual. Each dropped key is reported as a warning at its line, so nobody
mistakes the result for the zone the file names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._locate import Locator
from .findings import Finding

__all__ = ["dev_document", "dev_warnings"]

_ZONE_SOURCES = ("url", "id")
# Another server's shapes: the development zone has its own.
_ZONE_SHAPES = (
    "exchange",
    "accepted_issuers",
    "accepted_audiences",
    "tokens_without_audience",
    "scope_claims",
    "scope_prefix",
)


def dev_document(data: Any) -> Any:
    """``data`` (a parsed config) without zone ``url``/``id`` and ``credentials``, with
    ``zone.dev`` set (kept when it is already a mapping of settings). Anything that is not a
    mapping is returned as it is, for validation to report."""
    if not isinstance(data, dict):
        return data
    data = {key: value for key, value in data.items() if key != "credentials"}
    zone = data.get("zone", {})
    if isinstance(zone, dict):
        dropped = (*_ZONE_SOURCES, *_ZONE_SHAPES)
        zone = {key: value for key, value in zone.items() if key not in dropped}
        if not isinstance(zone.get("dev"), dict):
            zone["dev"] = {}
        data["zone"] = zone
    return data


def dev_warnings(data: Any, where: Locator) -> Iterator[Finding]:
    """A warning at each key of ``data`` that ``dev_document`` drops."""
    if not isinstance(data, dict):
        return
    zone = data.get("zone")
    for key in _ZONE_SOURCES:
        if isinstance(zone, dict) and key in zone:
            yield where.at(
                ("zone", key), "not used in dev mode: a development zone replaces it", "warning"
            )
    for key in _ZONE_SHAPES:
        if isinstance(zone, dict) and key in zone:
            yield where.at(
                ("zone", key),
                "not used in dev mode: the development zone has its own token shapes",
                "warning",
            )
    if "credentials" in data:
        yield where.at(
            ("credentials",), "not used in dev mode: the development zone issues them", "warning"
        )
