"""What one tool call did with its grants, gathered while it runs (for the audit log).

The launcher opens a ``CallRecord`` around each tool call (``current_call``); the delegator
notes each resource's outcome in it. Outside a recorded call nothing is noted.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["CACHED", "EXCHANGED", "CallRecord", "current_call"]

CACHED = "cached"  # no exchange was sent for this call (a cached token, or a shared one)
EXCHANGED = "exchanged"


class CallRecord:
    """Per-resource outcomes of one call: ``cached``, ``exchanged`` or the error code."""

    __slots__ = ("failed", "resources")

    def __init__(self) -> None:
        self.resources: dict[str, str] = {}
        self.failed = False

    def note(self, resource: str, outcome: str, *, ok: bool) -> None:
        """Record ``outcome`` for ``resource``; ``ok`` False for a failed grant."""
        self.resources[resource] = outcome
        if not ok:
            self.failed = True


current_call: ContextVar[CallRecord | None] = ContextVar("keycard_serve_call", default=None)
