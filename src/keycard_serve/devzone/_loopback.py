"""The zone only ever listens on, and trusts plain http for, the loopback interface."""

from __future__ import annotations

from urllib.parse import urlsplit

from .._urls import is_loopback_host
from ..errors import ConfigurationError

__all__ = ["is_https_or_loopback_url", "require_loopback_host", "url_host"]


def require_loopback_host(host: str) -> str:
    """``host`` without brackets if it is 127.0.0.0/8, ::1 or localhost; else refuse."""
    name = host.strip().strip("[]") if isinstance(host, str) else ""
    # *.localhost counts as loopback in URLs, but nothing guarantees it resolves for a bind.
    if not is_loopback_host(name) or name.lower().endswith(".localhost"):
        raise ConfigurationError(
            f"the development zone only binds to loopback (127.0.0.0/8, ::1, localhost), "
            f"not {host!r}: it is a development zone — not for production",
            code="devzone_not_loopback",
        )
    return name


def url_host(host: str) -> str:
    """``host`` as it appears in a URL authority (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host


def is_https_or_loopback_url(uri: str) -> bool:
    """An absolute https URL, or plain http to loopback (RFC 8252 §7.3), with no fragment.

    The rule for redirect URIs and for the resources tokens are issued to alike: development
    MCP servers and callback listeners run on http://127.0.0.1, everything else is https.
    """
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    host = parts.hostname
    if not host or "#" in uri:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host))
