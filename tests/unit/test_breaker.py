"""A target's circuit breaker (tossd.notify.breaker): its states as tables of results."""

from __future__ import annotations

import pytest

from tossd.notify.breaker import Breaker
from tossd.retry import RetryPolicy

POLICY = RetryPolicy(base_s=30.0, max_s=3600.0, max_attempts=12, jitter=0.5)
FRESH = Breaker(after_failures=3, policy=POLICY)


def run(results: list[bool], start: float = 1000.0) -> Breaker:
    breaker = FRESH
    for n, ok in enumerate(results):
        breaker = breaker.after(ok, start + n)
    return breaker


@pytest.mark.parametrize(
    ("results", "is_open", "open_until"),
    [
        ([], False, None),  # a new target is trusted
        ([False, False], False, None),  # two failures: still closed, rows keep their schedule
        ([False, False, False], True, 1002.0 + 30),  # the third in a row opens it for one step
        ([False, False, True, False], False, None),  # a success in between resets the count
        ([False, False, False, True], False, None),  # a late success (started before) closes it
    ],
)
def test_failures_in_a_row_open_it(
    results: list[bool], is_open: bool, open_until: float | None
) -> None:
    breaker = run(results)
    assert breaker.is_open is is_open
    assert breaker.open_until == open_until


@pytest.mark.parametrize(
    ("now", "admits"),
    [
        (1020.0, False),  # open: its rows wait
        (1031.9, False),  # a moment before the step is over
        (1032.0, True),  # the step is over: one probe may go
    ],
)
def test_an_open_breaker_admits_one_probe_when_its_time_comes(now: float, admits: bool) -> None:
    breaker = run([False, False, False])
    assert breaker.admits(now) is admits


def test_only_one_probe_at_a_time() -> None:
    probing = run([False, False, False]).probe()
    assert not probing.admits(5000.0)  # the probe is out: nothing else goes


@pytest.mark.parametrize(
    ("probe_ok", "is_open", "open_until"),
    [
        (True, False, None),  # the probe went through: closed, everything waiting goes out
        (False, True, 2000.0 + 60),  # it failed: open again, for the next (doubled) step
    ],
)
def test_a_probe_closes_or_reopens_it(
    probe_ok: bool, is_open: bool, open_until: float | None
) -> None:
    breaker = run([False, False, False]).probe().after(probe_ok, 2000.0)
    assert breaker.is_open is is_open
    assert breaker.open_until == open_until
    assert not breaker.probing


def test_a_failure_while_open_that_is_not_the_probe_does_not_extend_it() -> None:
    """Sends started before it opened may still fail; they change nothing but the count."""
    opened = run([False, False, False])
    late = opened.after(False, 1010.0)
    assert late.open_until == opened.open_until and late.trips == opened.trips


def test_steps_grow_with_each_failed_probe_up_to_the_cap() -> None:
    breaker, now, waits = run([False, False, False]), 2000.0, []
    for _ in range(10):
        assert breaker.open_until is not None
        now = breaker.open_until
        breaker = breaker.probe().after(False, now)
        assert breaker.open_until is not None
        waits.append(breaker.open_until - now)
    assert waits == [60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0, 3600.0, 3600.0]


def test_a_probe_that_was_not_sent_lets_the_next_row_probe() -> None:
    # Its row was postponed or folded, or another sender took it: no result will come.
    unsent = run([False, False, False]).probe().probe_unsent()
    assert unsent.is_open and not unsent.probing
    assert unsent.admits(5000.0)  # the next due row may probe
    assert not unsent.admits(1020.0)  # but not before the step is over
