"""Wait for something a test can observe, with a deadline instead of a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["poll"]


def poll(check: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
    """Return once ``check()`` is true; AssertionError naming ``what`` after ``deadline`` s."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
