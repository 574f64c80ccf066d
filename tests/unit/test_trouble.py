"""Unit tests of trouble: self-alert hysteresis, one alert per change of state."""

from __future__ import annotations

import pytest

from tossd.daemon.trouble import Change, Trouble

B, E = Change.BEGAN, Change.ENDED


@pytest.mark.parametrize(
    ("after", "checks", "changes"),
    [
        # told after two failures in a row of one cause, and over after two clear checks
        (2, ["x", "x", "x", None, None], [None, B, None, None, E]),
        # flapping (fail, clear, fail, clear) never reaches two in a row: never told
        (2, ["x", None, "x", None, "x", None], [None] * 6),
        # a different cause restarts the count: two causes alternating are not one streak
        (2, ["x", "y", "x", "y"], [None] * 4),
        # once told, a change of cause is the same trouble: not told again
        (2, ["x", "x", "y", "y", "y"], [None, B, None, None, None]),
        # one clear check amid the trouble does not end it, nor does it alert again
        (2, ["x", "x", None, "x", "x", None, None], [None, B, None, None, None, None, E]),
        # after = 1: every change of state is told at once
        (1, ["x", None, "x"], [B, E, B]),
        # all well from the start: nothing to tell
        (3, [None, None], [None, None]),
    ],
)
def test_one_alert_per_change_of_state(
    after: int, checks: list[str | None], changes: list[Change | None]
) -> None:
    trouble = Trouble(after)
    assert [trouble.check(cause) for cause in checks] == changes
