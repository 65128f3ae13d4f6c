"""Log output of the launcher: ``text`` lines for people, or ``json`` objects for pipelines.

A JSON line shares the audit log's field names where they overlap (``time`` in RFC 3339 UTC),
so one pipeline parses both: ``{"time": ..., "level": "warning", "logger": ..., "message":
...}``, plus ``exception`` (the formatted traceback) when there is one.
"""

from __future__ import annotations

import json
import logging
from typing import Literal

from .._audit import rfc3339

__all__ = ["JSONFormatter", "LogFormat", "configure_logging"]

LogFormat = Literal["text", "json"]


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level (lower case), logger, message[, exception]."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(
    level: str,
    log_format: LogFormat,
    *,
    text_format: str = "%(levelname)s %(name)s: %(message)s",
) -> None:
    """Send keycard-serve's (and uvicorn's) logs to standard error at ``level`` (a name), as
    JSON objects or as lines of ``text_format``."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter(text_format))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # FastMCP gives its logger a rich console handler of its own: send it to ours, in either
    # format, at our level.
    fastmcp = logging.getLogger("fastmcp")
    for own in fastmcp.handlers[:]:
        fastmcp.removeHandler(own)
    fastmcp.propagate = True
    fastmcp.setLevel(logging.NOTSET)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
