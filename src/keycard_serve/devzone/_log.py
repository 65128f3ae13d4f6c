"""The zone's logger: every line it writes says this is not a production authorization server."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["BANNER", "log"]

BANNER = "development zone — not for production"


class _DevZoneLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return f"[{BANNER}] {msg}", kwargs


log = _DevZoneLogger(logging.getLogger("keycard_serve.devzone"), {})
