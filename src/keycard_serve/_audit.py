"""The audit log: one JSON object per line, written by a thread so the event loop never waits.

``AuditLog.emit(record)`` only puts a dict on a bounded queue; a writer thread serialises it
(``time``, epoch seconds, becomes RFC 3339 UTC with milliseconds), appends it and flushes. A
write that fails (disk full, file removed, permissions) never reaches the caller: the line is
dropped, the failure logged once until a write succeeds again. ``reopen()`` (SIGHUP) and a
rename of the file (logrotate's default ``create`` mode, noticed within ``check_every``
seconds, 1 by default) make the
writer open the path anew. ``path`` ``-`` writes to standard error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

__all__ = ["AuditLog", "rfc3339"]

logger = logging.getLogger("keycard_serve.audit")

_QUEUE_LIMIT = 10_000  # lines waiting; beyond it lines are dropped (and that is logged once)
_STOP = object()
_REOPEN = object()


def rfc3339(epoch: float) -> str:
    """``2026-11-30T21:05:01.123Z``: RFC 3339, UTC, milliseconds."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class AuditLog:
    """Appends JSON lines to ``path`` (``-``: standard error) from a background thread."""

    def __init__(self, path: str | Path, *, check_every: float = 1.0) -> None:
        """``check_every``: seconds between checks that ``path`` still names the open file."""
        self.path = str(path)
        self._check_every = check_every
        self._queue: queue.Queue[Any] = queue.Queue(_QUEUE_LIMIT)
        self._file: TextIO | None = None
        self._inode: tuple[int, int] | None = None
        self._checked_at = 0.0
        self._failing = False
        self._dropping = False
        self._thread = threading.Thread(target=self._run, name="keycard-serve-audit", daemon=True)
        self._thread.start()

    def emit(self, record: dict[str, Any]) -> None:
        """Queue ``record`` (JSON-serialisable; ``time`` in epoch seconds); never blocks."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            if not self._dropping:
                self._dropping = True
                logger.error("audit log: %d lines waiting, dropping new ones", _QUEUE_LIMIT)

    def reopen(self) -> None:
        """Open the path anew before the next line (after log rotation; SIGHUP)."""
        self._queue.put(_REOPEN)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread and close the file."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every line queued so far is written (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._close_file()
                return
            if item is _REOPEN:
                self._close_file()
            elif isinstance(item, threading.Event):
                item.set()
            else:
                self._write(item)
                if self._dropping and self._queue.qsize() < _QUEUE_LIMIT // 2:
                    self._dropping = False

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"time": rfc3339(record["time"]), **_without_time(record)})
        try:
            output = self._output()
            output.write(line + "\n")
            output.flush()
        except (OSError, ValueError) as exc:
            if not self._failing:
                self._failing = True
                logger.error("audit log %s: cannot write (%s); dropping lines", self.path, exc)
            self._close_file()
            return
        if self._failing:
            self._failing = False
            logger.warning("audit log %s: writing again", self.path)

    def _output(self) -> TextIO:
        if self.path == "-":
            return sys.stderr
        now = time.monotonic()
        if self._file is not None and now - self._checked_at >= self._check_every:
            self._checked_at = now
            try:
                stat = os.stat(self.path)
                moved = (stat.st_dev, stat.st_ino) != self._inode
            except OSError:
                moved = True  # renamed away or removed: start a new file at the path
            if moved:
                self._close_file()
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            stat = os.fstat(self._file.fileno())
            self._inode = (stat.st_dev, stat.st_ino)
            self._checked_at = now
        return self._file

    def _close_file(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


def _without_time(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "time"}
