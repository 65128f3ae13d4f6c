"""Checks for the URLs a config names: the server's base URL, the zone, downstream resources.

RFC 8707 section 2 wants resources absolute and fragment-free; the MCP authorization spec
wants the authorization server on https. Plain http is tolerated only on loopback, where a
development setup lives (``keycard_serve._urls.is_loopback_host`` decides what that is).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from .._urls import is_loopback_host

__all__ = ["check_http_url", "is_plain_remote_http"]

_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


def check_http_url(url: str, *, allow_query: bool = False, require_tls: bool = False) -> str:
    """``url`` unchanged if it is an absolute http(s) URL; ValueError saying what is wrong."""
    if _UNSAFE.search(url):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urlsplit checks the port lazily
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL such as https://api.example.com/")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password; credentials go elsewhere")
    if parts.fragment or url.endswith("#"):
        raise ValueError("must not have a #fragment")
    if not allow_query and (parts.query or url.endswith("?")):
        raise ValueError("must not have a ?query")
    if require_tls and is_plain_remote_http(parts):
        raise ValueError(
            "plain http is only allowed for loopback hosts (127.0.0.1, ::1, localhost); use https"
        )
    return url


def is_plain_remote_http(url: str | SplitResult) -> bool:
    """True for an ``http://`` URL whose host is not loopback."""
    parts = urlsplit(url) if isinstance(url, str) else url
    return parts.scheme == "http" and not is_loopback_host(parts.hostname)
