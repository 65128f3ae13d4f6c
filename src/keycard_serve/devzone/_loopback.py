"""The zone only ever listens on, and trusts plain http for, the loopback interface."""

from __future__ import annotations

from .._urls import check_http_url, is_loopback_host
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
    The rest of ``keycard_serve._urls.check_http_url`` applies too (no credentials, no control
    characters); a query is allowed (RFC 6749 section 3.1.2).
    """
    try:
        check_http_url(uri, allow_query=True, require_tls=True)
    except ValueError:
        return False
    return True
