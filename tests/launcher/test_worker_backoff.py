"""When the supervisor starts a worker again: the policy alone, fed how long each worker lived."""

from __future__ import annotations

from keycard_serve.launcher.workers import _CRASH_WINDOW, _MAX_BACKOFF, _Backoff


def test_a_worker_that_served_a_while_is_replaced_at_once() -> None:
    assert _Backoff().delay(0, _CRASH_WINDOW + 60) == 0


def test_a_worker_dying_soon_after_starting_backs_off_doubling_up_to_the_cap() -> None:
    backoff = _Backoff()
    delays = [backoff.delay(0, 0.5) for _ in range(8)]
    assert delays == [1, 2, 4, 8, 16, _MAX_BACKOFF, _MAX_BACKOFF, _MAX_BACKOFF]


def test_failing_to_start_and_dying_soon_share_one_backoff() -> None:
    backoff = _Backoff()
    assert [backoff.delay(0, None), backoff.delay(0, 1.0), backoff.delay(0, None)] == [1, 2, 4]


def test_a_quiet_period_forgets_earlier_crashes() -> None:
    backoff = _Backoff()
    for _ in range(4):
        backoff.delay(0, 0.1)
    assert backoff.delay(0, _CRASH_WINDOW) == 0  # served long enough
    assert backoff.delay(0, 0.1) == 1  # a new crash starts from the first step again


def test_each_worker_has_its_own_backoff() -> None:
    backoff = _Backoff()
    backoff.delay(0, 0.1)
    backoff.delay(0, 0.1)
    assert backoff.delay(1, 0.1) == 1
