"""The URL checks a config applies: the rules themselves live in ``keycard_serve._urls``.

RFC 8707 section 2 wants resources absolute and fragment-free; the MCP authorization spec
wants the authorization server on https. Plain http is tolerated only on loopback, where a
development setup lives. The library, the config loader and the development zone apply the
same rules, so this module only names them for the config's validators.
"""

from __future__ import annotations

from .._urls import check_http_url, check_origin, is_plain_remote_http

__all__ = ["check_http_url", "check_origin", "is_plain_remote_http"]
