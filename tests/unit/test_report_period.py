"""Report periods: weeks and months, named, parsed, stepped, and their DST-correct windows."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tossd.errors import TossdError
from tossd.report.period import Period, PeriodKind, parse_period, period_of
from tossd.report.window import (
    day_slots,
    due_periods,
    latest_due_period,
    period_due,
    period_window,
    skipped_periods,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
DAY, WEEK, MONTH = PeriodKind.DAY, PeriodKind.WEEK, PeriodKind.MONTH
SEVEN = time(7, 0)


@pytest.mark.parametrize(
    ("tz", "kind", "inside", "week_start", "first", "hours"),
    [
        # New York springs forward on Sun 8 Mar 2026: the ISO week ending that day is short.
        (NY, WEEK, date(2026, 3, 5), 0, date(2026, 3, 2), 167),
        # A week from Sunday holds the change on its first day.
        (NY, WEEK, date(2026, 3, 10), 6, date(2026, 3, 8), 167),
        # New York falls back on Sun 1 Nov 2026: that ISO week is long.
        (NY, WEEK, date(2026, 10, 30), 0, date(2026, 10, 26), 169),
        # An ordinary week.
        (NY, WEEK, date(2026, 6, 17), 0, date(2026, 6, 15), 168),
        # March in New York: 31 days less the hour skipped.
        (NY, MONTH, date(2026, 3, 31), 0, date(2026, 3, 1), 31 * 24 - 1),
        # November in New York: 30 days and the hour repeated.
        (NY, MONTH, date(2026, 11, 1), 0, date(2026, 11, 1), 30 * 24 + 1),
        # Berlin changes on other Sundays: 29 Mar and 25 Oct 2026.
        (BERLIN, WEEK, date(2026, 3, 29), 0, date(2026, 3, 23), 167),
        (BERLIN, WEEK, date(2026, 10, 19), 0, date(2026, 10, 19), 169),
        # The New York change weeks are ordinary in Berlin.
        (BERLIN, WEEK, date(2026, 3, 8), 0, date(2026, 3, 2), 168),
        (BERLIN, MONTH, date(2026, 3, 2), 0, date(2026, 3, 1), 31 * 24 - 1),
        (BERLIN, MONTH, date(2026, 10, 31), 0, date(2026, 10, 1), 31 * 24 + 1),
        # February of a common year, no change anywhere.
        (BERLIN, MONTH, date(2027, 2, 14), 0, date(2027, 2, 1), 28 * 24),
        # December runs into the next year.
        (NY, MONTH, date(2026, 12, 31), 0, date(2026, 12, 1), 31 * 24),
    ],
)
def test_week_and_month_windows_across_dst(
    tz: ZoneInfo, kind: PeriodKind, inside: date, week_start: int, first: date, hours: int
) -> None:
    period = period_of(kind, inside, week_start)
    assert period.first == first
    start, end = period_window(period, tz)
    assert end - start == hours * 3600
    assert datetime.fromtimestamp(start, tz).time() == time(0)
    assert datetime.fromtimestamp(end, tz).time() == time(0)
    slots = day_slots(period, tz)
    assert [s.day for s in slots] == period.days and slots[0].start == start


@pytest.mark.parametrize("tz", [NY, BERLIN, ZoneInfo("Australia/Lord_Howe"), UTC])
@pytest.mark.parametrize(("kind", "week_start"), [(DAY, 0), (WEEK, 0), (WEEK, 6), (MONTH, 0)])
def test_consecutive_periods_meet_and_their_days_are_their_window(
    tz: ZoneInfo, kind: PeriodKind, week_start: int
) -> None:
    period = period_of(kind, date(2025, 12, 20), week_start)
    for _ in range(60):
        following = period.following()
        assert period_window(period, tz)[1] == period_window(following, tz)[0]
        assert following.previous() == period
        assert period.end == following.first
        period = following


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        # An ISO week as written.
        ("2026-W48", None, Period(date(2026, 11, 23), date(2026, 11, 30), WEEK)),
        # A month as written.
        ("2026-11", None, Period(date(2026, 11, 1), date(2026, 12, 1), MONTH)),
        # A day as written.
        ("2026-11-30", None, Period(date(2026, 11, 30), date(2026, 12, 1), DAY)),
        # A day with --period week: the week holding it.
        ("2026-11-30", WEEK, Period(date(2026, 11, 30), date(2026, 12, 7), WEEK)),
        # A day with --period month: the month holding it.
        ("2026-11-30", MONTH, Period(date(2026, 11, 1), date(2026, 12, 1), MONTH)),
        # ISO week 1 of 2027 begins in 2027 (4 Jan), week 53 of 2026 in December.
        ("2027-W01", WEEK, Period(date(2027, 1, 4), date(2027, 1, 11), WEEK)),
        ("2026-W53", None, Period(date(2026, 12, 28), date(2027, 1, 4), WEEK)),
    ],
)
def test_parse_period(text: str, kind: PeriodKind | None, expected: Period) -> None:
    assert parse_period(text, kind) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [("2026-W48", MONTH), ("2026-11", WEEK), ("2026-13", None), ("2026-W60", None), ("x", None)],
)
def test_parse_period_refuses(text: str, kind: PeriodKind | None) -> None:
    with pytest.raises(TossdError, match="--date"):
        parse_period(text, kind)


@pytest.mark.parametrize(
    ("period", "key", "label"),
    [
        (period_of(DAY, date(2026, 11, 30)), "2026-11-30", "Mon 30 Nov 2026"),
        (
            period_of(WEEK, date(2026, 11, 25)),
            "2026-W48",
            "Week 2026-W48 (Mon 23 Nov - Sun 29 Nov 2026)",
        ),
        (
            period_of(WEEK, date(2026, 11, 25), 6),
            "2026-11-22+7",
            "Week of Sun 22 Nov - Sat 28 Nov 2026",
        ),
        (period_of(MONTH, date(2026, 11, 25)), "2026-11", "November 2026"),
    ],
)
def test_period_names(period: Period, key: str, label: str) -> None:
    assert (period.key, period.label) == (key, label)


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


@pytest.mark.parametrize(
    ("kind", "now", "expected"),
    [
        # Monday 07:00: last week is due.
        (WEEK, ny(2026, 11, 30, 7), date(2026, 11, 23)),
        # Monday 06:59: the week before it is still the latest due.
        (WEEK, ny(2026, 11, 30, 6, 59), date(2026, 11, 16)),
        # 1 December 07:00: November.
        (MONTH, ny(2026, 12, 1, 7), date(2026, 11, 1)),
        # Any day of December after the 1st: still November.
        (MONTH, ny(2026, 12, 20, 3), date(2026, 11, 1)),
        # 1 December before 07:00: October.
        (MONTH, ny(2026, 12, 1, 6), date(2026, 10, 1)),
        # Monday 2 Nov 07:00, after the 25-hour Sunday: the long week is due.
        (WEEK, ny(2026, 11, 2, 7), date(2026, 10, 26)),
    ],
)
def test_latest_due_period(kind: PeriodKind, now: datetime, expected: date) -> None:
    assert latest_due_period(now, SEVEN, NY, kind).first == expected


def test_due_and_skipped_periods_send_the_latest_once() -> None:
    oct_, nov = period_of(MONTH, date(2026, 10, 1)), period_of(MONTH, date(2026, 11, 1))
    aug = period_of(MONTH, date(2026, 8, 1))
    now = ny(2026, 12, 3, 9)
    assert due_periods(oct_, now, SEVEN, NY, MONTH) == [nov]
    assert due_periods(nov, now, SEVEN, NY, MONTH) == []
    assert skipped_periods(aug, now, SEVEN, NY, MONTH) == [
        period_of(MONTH, date(2026, 9, 1)),
        oct_,
    ]
    assert skipped_periods(None, now, SEVEN, NY, MONTH) == []


@pytest.mark.parametrize(
    ("kind", "first_start", "sent"),
    [
        # Started on 2 Dec: November ended before, so the fresh install says nothing of it.
        (MONTH, ny(2026, 12, 2, 10), False),
        # Started on 30 Nov: November had not ended, so its report is due.
        (MONTH, ny(2026, 11, 30, 23), True),
        # Started exactly at the month's end: it ended before (or as) tossd began.
        (MONTH, ny(2026, 12, 1, 0), False),
        # A day report: yesterday ended before a start this morning.
        (DAY, ny(2026, 12, 3, 8), False),
        # A day report: started yesterday afternoon, so yesterday's report goes out.
        (DAY, ny(2026, 12, 2, 15), True),
    ],
)
def test_first_start_sends_no_period_that_ended_before_it(
    kind: PeriodKind, first_start: datetime, sent: bool
) -> None:
    now = ny(2026, 12, 3, 9)
    due = due_periods(None, now, SEVEN, NY, kind, first_start=int(first_start.timestamp()))
    assert bool(due) is sent
    # Once a report was sent, catch-up after downtime is unchanged by the first start.
    last = latest_due_period(now, SEVEN, NY, kind).previous()
    later = due_periods(last, now, SEVEN, NY, kind, first_start=int(now.timestamp()))
    assert later == [last.following()]


def test_a_random_walk_sends_each_period_once_in_order() -> None:
    """Ticks at random moments over a year: every week is sent once, after its due time."""
    rng = random.Random(14)
    moment = ny(2026, 1, 5, 12)
    sent: list[Period] = [period_of(WEEK, date(2025, 12, 29))]
    while moment < ny(2027, 1, 1, 0):
        moment += timedelta(hours=rng.randint(1, 30))
        for period in due_periods(sent[-1], moment, SEVEN, BERLIN, WEEK):
            assert moment.timestamp() >= period_due(period, SEVEN, BERLIN)
            sent.append(period)
    assert all(b == a.following() for a, b in itertools.pairwise(sent))
    assert len(sent) >= 52
