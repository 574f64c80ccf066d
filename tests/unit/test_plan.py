"""What to ask the provider for next (tossd.poll.plan), as tables."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from tossd.domain import EventKind, NewEvent
from tossd.poll.plan import (
    REPROBE_S,
    VOICEMAIL_WAIT_S,
    Reach,
    StreamReach,
    boxes_due,
    stretched_s,
    sweep_size,
    turns,
)
from tossd.store.schedule import BoxDue

NOW = 1_800_000_000


def call(kind: EventKind, at: int, seconds: int, *, announce: bool = True) -> NewEvent:
    payload: dict[str, Any] = {"seconds": seconds}
    return NewEvent(
        kind=kind,
        extensionid=7,
        identity=f"call:{at}",
        occurred_at=at,
        announce=announce,
        payload=payload,
    )


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        # A missed call reached nobody, not even voicemail: no box to check.
        (call(EventKind.MISSED_CALL, NOW - 30, 0), []),
        # An answered call may have been voicemail: due until 2 minutes after it ended, here
        # later than now (it ended at NOW + 10).
        (
            call(EventKind.CALL, NOW - 20, 30),
            [BoxDue("call:1799999980", 7, NOW - 20, NOW + 10 + VOICEMAIL_WAIT_S)],
        ),
        # A call that ended long ago but is seen only now (published late): due from now.
        (
            call(EventKind.CALL, NOW - 3600, 30),
            [BoxDue("call:1799996400", 7, NOW - 3600, NOW + VOICEMAIL_WAIT_S)],
        ),
        # A record claiming a call of 60 years keeps its box due a day at most.
        (
            call(EventKind.CALL, NOW - 20, 2**31 - 1),
            [BoxDue("call:1799999980", 7, NOW - 20, NOW - 20 + 86400 + VOICEMAIL_WAIT_S)],
        ),
        # A call dated 20 h ahead (a wrong record) makes no box due for 20 h.
        (call(EventKind.CALL, NOW + 20 * 3600, 30), []),
        # History from before the first sight is not announced: its box is not made due.
        (call(EventKind.CALL, NOW - 3600, 30, announce=False), []),
        # A payload without seconds counts as nobody answering.
        (
            NewEvent(
                kind=EventKind.CALL, extensionid=7, identity="c", occurred_at=NOW, announce=True
            ),
            [],
        ),
    ],
)
def test_boxes_due(event: NewEvent, expected: list[BoxDue]) -> None:
    assert boxes_due([event], NOW) == expected


@pytest.mark.parametrize(
    ("budget", "interval_s", "share", "expected"),
    [
        # No budget: no limit on per-number requests.
        (None, 60.0, 0.5, None),
        # 10 requests/s over a 60 s cycle, half of it: 300.
        (10.0, 60.0, 0.5, 300),
        # A tiny budget still allows one a cycle, so every number is reached in the end.
        (0.01, 1.0, 0.25, 1),
    ],
)
def test_turns(budget: float | None, interval_s: float, share: float, expected: int | None) -> None:
    assert turns(budget, interval_s, share) == expected


@pytest.mark.parametrize(
    ("numbers", "interval_s", "sweep_s", "limit", "expected"),
    [
        # 1,000 boxes once per 900 s at 60 s cycles: 67 a cycle (rounded up, never late).
        (1000, 60.0, 900.0, None, 67),
        # A sweep shorter than a cycle visits every box every cycle, no more.
        (3, 60.0, 30.0, None, 3),
        # A few boxes: at least one a cycle.
        (3, 60.0, 900.0, None, 1),
        # The budget's share caps it (the sweep then takes longer).
        (1000, 60.0, 900.0, 20, 20),
        # No numbers, nothing to sweep.
        (0, 60.0, 900.0, None, 0),
    ],
)
def test_sweep_size(
    numbers: int, interval_s: float, sweep_s: float, limit: int | None, expected: int
) -> None:
    assert sweep_size(numbers, interval_s, sweep_s, limit) == expected


@pytest.mark.parametrize(
    ("numbers", "per_cycle", "interval_s", "expected"),
    [
        # 12 numbers, 5 a cycle: 3 cycles of 2 s.
        (12, 5, 2.0, 6.0),
        # Everything fits one cycle.
        (5, 5, 60.0, 60.0),
        # 1,000 numbers at 300 a cycle: 4 cycles.
        (1000, 300, 60.0, 240.0),
    ],
)
def test_stretched_s(numbers: int, per_cycle: int, interval_s: float, expected: float) -> None:
    assert stretched_s(numbers, per_cycle, interval_s) == expected


def test_sweep_visits_every_box_within_the_sweep_period_from_any_start() -> None:
    # Randomised: whatever the account and timing, the cycles of one sweep period (rounded up
    # to a whole cycle) of sweep_size boxes each cover every box.
    rng = random.Random(20261206)
    for _ in range(2000):
        numbers = rng.randrange(1, 5000)
        interval_s = rng.uniform(1.0, 600.0)
        sweep_s = rng.uniform(interval_s, 7200.0)
        cycles = math.ceil(sweep_s / interval_s)
        assert sweep_size(numbers, interval_s, sweep_s, None) * cycles >= numbers


@pytest.mark.parametrize(
    ("steps", "at", "tries_account", "off"),
    [
        # Fresh: account-wide.
        ([], 0.0, True, False),
        # Refused at 100: per number until an hour later, then probed again.
        ([(Reach.PER_NUMBER, 100.0)], 100.0 + REPROBE_S - 1, False, False),
        ([(Reach.PER_NUMBER, 100.0)], 100.0 + REPROBE_S, True, False),
        # Unsupported: off (not asked at all) for an hour, then probed.
        ([(Reach.OFF, 100.0)], 200.0, False, True),
        ([(Reach.OFF, 100.0)], 100.0 + REPROBE_S, True, False),
        # A probe refused again restarts the hour.
        ([(Reach.OFF, 100.0), (Reach.OFF, 100.0 + REPROBE_S)], 100.0 + REPROBE_S + 1, False, True),
        # Accepted again: account-wide from then on.
        ([(Reach.PER_NUMBER, 100.0), (Reach.ACCOUNT, 5000.0)], 5001.0, True, False),
    ],
)
def test_stream_reach(
    steps: list[tuple[Reach, float]], at: float, tries_account: bool, off: bool
) -> None:
    reach = StreamReach()
    for state, when in steps:
        reach.become(state, when)
    assert (reach.tries_account(at), reach.off(at)) == (tries_account, off)


def test_stream_reach_says_when_it_changes() -> None:
    reach = StreamReach()
    assert reach.become(Reach.ACCOUNT, 1.0) is False
    assert reach.become(Reach.PER_NUMBER, 2.0) is True
    assert reach.become(Reach.PER_NUMBER, 3.0) is False
    assert reach.become(Reach.ACCOUNT, 4.0) is True
