"""URL rules, decided once: zone URLs, the MCP server's public URLs, well-known locations.

Every URL the server advertises or compares (token audience, protected-resource metadata,
401 challenges) is derived here, so the three can never disagree.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigurationError

__all__ = [
    "KEYCARD_DOMAIN",
    "is_loopback_host",
    "normalize_base_url",
    "normalize_zone_url",
    "path_of",
    "resolve_zone_url",
    "resource_url",
    "same_issuer",
    "well_known_url",
]

KEYCARD_DOMAIN = "keycard.cloud"
_ZONE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and loopback addresses, where plain http is acceptable."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_zone_url(zone_id: str | None, zone_url: str | None) -> str:
    """The zone's issuer URL from exactly one of ``zone_id`` and ``zone_url``."""
    if (zone_id is None) == (zone_url is None):
        raise ConfigurationError(
            "AuthProvider needs exactly one of zone_id (a Keycard zone) or zone_url "
            "(any RFC 8414 authorization server)",
            code="zone_source",
        )
    if zone_id is not None:
        if not _ZONE_ID.fullmatch(zone_id):
            raise ConfigurationError(
                f"zone_id {zone_id!r} is not a valid zone id (lowercase letters, digits, '-')",
                code="invalid_zone_id",
            )
        return f"https://{zone_id}.{KEYCARD_DOMAIN}"
    assert zone_url is not None
    return normalize_zone_url(zone_url)


def normalize_zone_url(url: str) -> str:
    """An authorization server URL: https (or http on loopback), no query, no fragment.

    A trailing slash is dropped so well-known URLs can be built by path insertion; issuer
    comparison tolerates it (see ``same_issuer``).
    """
    parts = _split_http_url(url, "zone_url", require_tls=True)
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"zone_url {url!r} must not have a query or fragment", code="invalid_zone_url"
        )
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def normalize_base_url(url: str) -> str:
    """The MCP server's public base URL, lower-case scheme and host, with a trailing slash."""
    # Plain http stays allowed here: TLS is often terminated by a proxy in front of us, and
    # we send no secret to this URL ourselves.
    parts = _split_http_url(url, "mcp_base_url", require_tls=False)
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"mcp_base_url {url!r} must not have a query or fragment",
            code="invalid_base_url",
        )
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def resource_url(base_url: str, mcp_path: str | None) -> str:
    """The URL of the MCP endpoint itself: the base URL plus the endpoint path."""
    if not mcp_path or mcp_path == "/":
        return base_url
    return base_url + mcp_path.strip("/")


def well_known_url(url: str, name: str) -> str:
    """RFC 8414 / RFC 9728 path insertion: ``/.well-known/<name>`` between host and path."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}{path}", "", ""))


def path_of(url: str) -> str:
    """The URL's path without a trailing slash (``""`` for the root), for building routes."""
    return urlsplit(url).path.rstrip("/")


def same_issuer(configured: str, advertised: str) -> bool:
    """RFC 8414 section 3.3, tolerating only a trailing slash on either side."""
    return configured.rstrip("/") == advertised.rstrip("/")


def _split_http_url(url: str, field: str, *, require_tls: bool):
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{field} {url!r} is not an absolute http(s) URL", code=f"invalid_{field}"
        )
    if parts.username or parts.password:
        raise ConfigurationError(f"{field} must not contain credentials", code=f"invalid_{field}")
    if require_tls and parts.scheme.lower() == "http" and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"{field} {url!r} uses plain http on a non-loopback host; use https",
            code=f"insecure_{field}",
        )
    netloc = parts.hostname.lower()
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return parts._replace(scheme=parts.scheme.lower(), netloc=netloc)
