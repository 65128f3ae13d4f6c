"""Where clients look for discovery documents, and how they compare URLs.

Clients build well-known URLs three ways (RFC 8414 section 3.1 path insertion, the root, and
OpenID Connect's path appending) and compare a metadata ``resource`` with the URL they were
given either by prefix (MCP SDKs) or exactly (VS Code): both rules live here, as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "OAUTH_AS",
    "OIDC",
    "PRM",
    "WellKnown",
    "Where",
    "exact_match",
    "is_absolute_http",
    "lenient_prefix_match",
    "normalized",
    "origin",
    "prefix_match",
]

PRM = "oauth-protected-resource"
OAUTH_AS = "oauth-authorization-server"
OIDC = "openid-configuration"

# Deliberately not keycard_serve._urls: doctor replays what MCP clients and browsers do
# (WHATWG URL spelling, the TS SDK's prefix match), which is not our server's canonical form;
# where they differ is exactly what doctor reports.
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Where(str, Enum):
    inserted = "path-inserted"  # /.well-known/NAME/PATH (RFC 8414, RFC 9728)
    root = "root"  # /.well-known/NAME, the path dropped
    appended = "appended"  # /PATH/.well-known/NAME (OIDC Discovery, older MCP clients)


@dataclass(frozen=True)
class WellKnown:
    """One well-known location, relative to a base URL (an MCP endpoint or an issuer)."""

    name: str
    where: Where

    def url(self, base: str) -> str:
        parts = urlsplit(base)
        path = parts.path.rstrip("/")
        if self.where is Where.inserted:
            path = f"/.well-known/{self.name}{path}"
        elif self.where is Where.root:
            path = f"/.well-known/{self.name}"
        else:
            path = f"{path}/.well-known/{self.name}"
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    def __str__(self) -> str:
        return f"{self.name} ({self.where.value})"


def is_absolute_http(url: object) -> bool:
    """An absolute http(s) URL with a host: what a client can fetch without guessing a base."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def origin(url: str) -> str:
    """scheme://host[:port], lower-cased, default port dropped (the browser's origin)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if parts.port in (None, _DEFAULT_PORTS.get(scheme)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{parts.port}"


def normalized(url: str) -> str:
    """The URL as WHATWG ``new URL(url).toString()`` spells it, for exact comparisons."""
    parts = urlsplit(url)
    return origin(url) + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def prefix_match(given: str, resource: str) -> bool:
    """The TS SDK's ``checkResourceAllowed``: same origin, and the given URL's path starts with
    the resource's path segment-wise (a resource ``/mcp/`` does not cover ``/mcp``)."""
    given_path, resource_path = _path(given), _path(resource)
    if origin(given) != origin(resource) or len(given_path) < len(resource_path):
        return False
    return _slashed(given_path).startswith(_slashed(resource_path))


def lenient_prefix_match(given: str, resource: str) -> bool:
    """The Python SDK's ``check_resource_allowed``: as the TS rule, trailing slashes ignored."""
    if origin(given) != origin(resource):
        return False
    return _slashed(_path(given)).startswith(_slashed(_path(resource)))


def exact_match(given: str, resource: str) -> bool:
    """VS Code's rule: both URLs serialised by ``new URL()`` must be identical."""
    return normalized(given) == normalized(resource)


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def _slashed(path: str) -> str:
    return path if path.endswith("/") else path + "/"
