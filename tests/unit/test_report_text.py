"""How a week's or month's report words a change since the previous period (pure)."""

from __future__ import annotations

import pytest

from tossd.report.text import describe_change


@pytest.mark.parametrize(
    ("now", "before", "points", "expected"),
    [
        # More calls than before: up, by the share of before.
        (125, 100, False, "▲ 25%"),
        # Fewer: down, the size of the drop without a sign.
        (90, 100, False, "▼ 10%"),
        # Unchanged.
        (7, 7, False, "= 0%"),
        # Nothing before and nothing now: no change, not a division by zero.
        (0, 0, False, "= 0%"),
        # Something now after nothing: new, a percentage would be infinite.
        (3, 0, False, "▲ new"),
        # Down to nothing.
        (0, 4, False, "▼ 100%"),
        # Rounded to whole percent.
        (2, 3, False, "▼ 33%"),
        # A share (missed %) moves in percentage points: 17% -> 24% is up 7 points.
        (0.24, 0.17, True, "▲ 7.0 pts"),
        (0.10, 0.125, True, "▼ 2.5 pts"),
        # A share moving less than a twentieth of a point reads as unchanged.
        (0.2000, 0.2004, True, "= 0.0 pts"),
    ],
)
def test_describe_change(now: float, before: float, points: bool, expected: str) -> None:
    assert describe_change(now, before, points=points) == expected
