"""A circuit breaker for the zone's token endpoint.

When the endpoint keeps failing (timeouts, connection errors, 5xx), every granted tool call
would otherwise wait out its whole deadline. After ``threshold`` such failures in a row the
breaker opens: calls fail at once for ``reset_after`` seconds, then one trial call decides
whether it closes again. An OAuth error (a 400 or 401) is an answer, not a failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ._metrics import set_circuit_open

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    """Counts consecutive transient failures; ``reset_after`` in seconds of ``clock``
    (monotonic seconds by default)."""

    def __init__(
        self,
        *,
        threshold: int = 5,
        reset_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or reset_after <= 0:
            raise ValueError("threshold must be >= 1 and reset_after > 0")
        self._threshold = threshold
        self._reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    def retry_in(self) -> float:
        """Seconds until a call may go out; 0 when the breaker lets it through."""
        if self._opened_at is None:
            return 0.0
        remaining = self._opened_at + self._reset_after - self._clock()
        if remaining <= 0:
            self._opened_at = self._clock()  # half-open: this caller is the one trial
            return 0.0
        return remaining

    def record(self, *, healthy: bool) -> None:
        """Record one outcome: ``healthy`` closes the breaker, a failure counts toward opening."""
        if healthy:
            if self._opened_at is not None:
                set_circuit_open(False)
            self._failures, self._opened_at = 0, None
            return
        self._failures += 1
        if self._failures >= self._threshold:
            if self._opened_at is None:
                set_circuit_open(True)
            self._opened_at = self._clock()
