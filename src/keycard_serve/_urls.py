"""URL rules, decided once: what a valid URL is here, and the one spelling of each URL.

Every URL the server advertises or compares (token audience, protected-resource metadata,
401 and 403 challenges, the scope guard's path, the launcher's banner, ``doctor`` and
``token``) is derived here, so they can never disagree. The canonical spelling is RFC 3986
section 6.2.2-6.2.3 normalisation: lower-case scheme and host, default port dropped,
percent-encodings upper-case and unreserved ones decoded, dot segments removed. A base URL
ends with ``/``; an endpoint URL is the base URL plus the endpoint path without a trailing
slash, so ``/mcp``, ``/mcp/`` and ``mcp`` name the same endpoint and ``/`` names the base.

The validity rules (``check_http_url``) serve the config loader, the library constructor and
the development zone alike: no spaces or control characters, a parseable port, an absolute
http(s) URL with a host, no user name or password, no ``#fragment`` (not even a bare ``#``),
no ``?query`` (not even a bare ``?``) unless allowed, and plain http only on loopback where
TLS is required.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

from .errors import ConfigurationError

__all__ = [
    "KEYCARD_DOMAIN",
    "canonical_url",
    "check_http_url",
    "check_origin",
    "endpoint_path",
    "is_loopback_host",
    "is_loopback_origin",
    "is_plain_remote_http",
    "normalize_base_url",
    "normalize_zone_url",
    "origin_of",
    "path_of",
    "resolve_zone_url",
    "resource_url",
    "same_issuer",
    "well_known_url",
]

KEYCARD_DOMAIN = "keycard.cloud"
_ZONE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
# RFC 3986 section 2.3: percent-encoded unreserved characters are decoded when normalising.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


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


def is_plain_remote_http(url: str | SplitResult) -> bool:
    """True for an ``http://`` URL whose host is not loopback."""
    parts = urlsplit(url) if isinstance(url, str) else url
    return parts.scheme.lower() == "http" and not is_loopback_host(parts.hostname)


def check_http_url(url: str, *, allow_query: bool = False, require_tls: bool = False) -> str:
    """``url`` unchanged if it obeys the rules above; else ``ValueError`` saying what is wrong.

    The message is a predicate (``"must not have a #fragment"``) for the caller to prefix with
    the field's name.
    """
    _split_checked(url, allow_query=allow_query, require_tls=require_tls)
    return url


def canonical_url(url: str) -> str:
    """``url`` in its RFC 3986 section 6.2.2 normal form (scheme-based: default port dropped).

    An empty path becomes ``/``; query and fragment are kept as they are. ``ValueError`` for
    a URL whose port does not parse.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    netloc = f"[{host}]" if ":" in host else host
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = _remove_dot_segments(_normalize_percent(parts.path)) or "/"
    return urlunsplit((scheme, netloc, path, parts.query, parts.fragment))


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
    """An authorization server URL, canonical and without a trailing slash.

    https (or http on loopback), no query, no fragment: ``ConfigurationError`` with code
    ``invalid_zone_url`` or ``insecure_zone_url`` otherwise. The trailing slash is dropped so
    well-known URLs can be built by path insertion (RFC 8414 section 3.1); issuer comparison
    tolerates it (``same_issuer``).
    """
    _checked_or_raise(url, "zone_url", require_tls=True)
    return canonical_url(url).rstrip("/")


def normalize_base_url(url: str) -> str:
    """The MCP server's public base URL, canonical, with a trailing slash.

    ``ConfigurationError`` (code ``invalid_mcp_base_url``) unless it is an absolute http(s)
    URL without credentials, query or fragment. Plain http stays allowed on any host: TLS is
    often terminated by a proxy in front of us, and we send no secret to this URL ourselves.
    """
    _checked_or_raise(url, "mcp_base_url", require_tls=False)
    canonical = canonical_url(url)
    return canonical if canonical.endswith("/") else canonical + "/"


def endpoint_path(mcp_path: str | None) -> str:
    """The MCP endpoint's path below the base URL, canonical: ``"/mcp"`` for ``"/mcp/"``,
    ``"mcp"``, ``"//mcp"``, ``"/mcp//"`` and ``"/a/../mcp"`` (percent-encodings and dot
    segments normalised as in ``canonical_url``); ``"/"`` for ``"/"``, ``""`` and None."""
    path = "/" + (mcp_path or "").strip("/")
    return "/" + _remove_dot_segments(_normalize_percent(path)).strip("/")


def resource_url(base_url: str, mcp_path: str | None) -> str:
    """The MCP endpoint's URL: ``base_url`` (canonical, with its trailing slash) plus the path.

    ``resource_url("https://h/", "/mcp/") == "https://h/mcp"``; the root path gives the base.
    """
    return base_url + endpoint_path(mcp_path)[1:]


def path_of(url: str) -> str:
    """The URL's path without a trailing slash (``""`` for the root), for building routes."""
    return urlsplit(url).path.rstrip("/")


def well_known_url(url: str, name: str) -> str:
    """RFC 8414 / RFC 9728 path insertion: ``/.well-known/<name>`` between host and path."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}{path_of(url)}", "", ""))


def origin_of(url: str) -> str:
    """The RFC 6454 origin of ``url`` as browsers serialise it in ``Origin``:
    ``scheme://host[:port]``, lower-case, the scheme's default port dropped, no path."""
    parts = urlsplit(canonical_url(url))
    return f"{parts.scheme}://{parts.netloc}"


def check_origin(value: str) -> str:
    """``value`` as a canonical origin (``origin_of``), or ``ValueError`` saying what is wrong.

    An origin is an http(s) scheme and a host, optionally a port, and nothing else: no path
    (not even ``/``), query, fragment or credentials; ``*`` and ``null`` are not origins.
    """
    parts = _split_checked(value, allow_query=False, require_tls=False)
    if parts.path:
        raise ValueError("must be an origin (scheme://host[:port]) without a path")
    return origin_of(value)


def is_loopback_origin(origin: str) -> bool:
    """True for an http(s) origin on a loopback host (``http://localhost:6274``)."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - urlsplit checks the port lazily
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and is_loopback_host(parts.hostname)


def same_issuer(configured: str, advertised: str) -> bool:
    """RFC 8414 section 3.3: the same URL, compared in canonical form, a trailing slash aside."""
    try:
        return canonical_url(configured).rstrip("/") == canonical_url(advertised).rstrip("/")
    except ValueError:
        return False


def _split_checked(url: str, *, allow_query: bool, require_tls: bool) -> SplitResult:
    if not isinstance(url, str):
        raise ValueError("must be a string")
    if _UNSAFE.search(url):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urlsplit checks the port lazily
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL such as https://api.example.com/")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password; credentials go elsewhere")
    if parts.fragment or "#" in url:
        raise ValueError("must not have a #fragment")
    if not allow_query and (parts.query or "?" in url):
        raise ValueError("must not have a ?query")
    if require_tls and is_plain_remote_http(parts):
        raise ValueError(
            "plain http is only allowed for loopback hosts (127.0.0.1, ::1, localhost); use https"
        )
    return parts


def _checked_or_raise(url: str, field: str, *, require_tls: bool) -> None:
    """``check_http_url`` as a ``ConfigurationError`` naming ``field``, for the library."""
    candidate = url.strip() if isinstance(url, str) else url
    try:
        _split_checked(candidate, allow_query=False, require_tls=require_tls)
    except ValueError as exc:
        kind = "insecure" if str(exc).startswith("plain http") else "invalid"
        raise ConfigurationError(f"{field} {url!r} {exc}", code=f"{kind}_{field}") from None


def _normalize_percent(path: str) -> str:
    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PERCENT.sub(one, path)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4."""
    if "." not in path:
        return path
    output: list[str] = []
    for segment in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    trailing = "/" if path.endswith(("/.", "/..")) else ""
    return "/" + "/".join(output) + trailing if path.startswith("/") else "/".join(output)
