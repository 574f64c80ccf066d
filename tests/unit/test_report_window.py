"""Report windows and due dates across daylight-saving changes (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tossd.report.window import (
    day_window,
    due_at,
    due_dates,
    hour_slots,
    is_late,
    latest_due,
    skipped_dates,
)
from tossd.text.zones import hour_key

NY = ZoneInfo("America/New_York")
SEVEN = time(7, 0)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


def local(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


@pytest.mark.parametrize(
    ("day", "start", "end", "hours"),
    [
        # Spring forward: 02:00 EST -> 03:00 EDT, so the day is 23 hours long.
        (date(2026, 3, 8), utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), 23),
        # Fall back: 02:00 EDT -> 01:00 EST, so the day is 25 hours long.
        (date(2026, 11, 1), utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), 25),
        (date(2026, 3, 7), utc(2026, 3, 7, 5), utc(2026, 3, 8, 5), 24),
        (date(2026, 7, 1), utc(2026, 7, 1, 4), utc(2026, 7, 2, 4), 24),
    ],
)
def test_the_window_is_local_midnight_to_local_midnight(
    day: date, start: int, end: int, hours: int
) -> None:
    assert day_window(day, NY) == (start, end)
    assert (end - start) == hours * 3600
    assert len(hour_slots(day, NY)) == hours


def test_consecutive_days_meet_without_gap_or_overlap() -> None:
    for zone in ("America/New_York", "America/Havana", "Australia/Lord_Howe", "UTC"):
        tz = ZoneInfo(zone)
        day = date(2026, 1, 1)
        for _ in range(366):
            assert day_window(day, tz)[1] == day_window(day + timedelta(days=1), tz)[0]
            day += timedelta(days=1)


def test_a_skipped_midnight_starts_the_day_at_the_jump() -> None:
    havana = ZoneInfo("America/Havana")  # DST starts at 00:00 -> 01:00
    start, end = day_window(date(2026, 3, 8), havana)
    assert datetime.fromtimestamp(start, havana).strftime("%H:%M %Z") == "01:00 CDT"
    assert end - start == 23 * 3600


def test_the_repeated_hour_gets_two_labelled_slots() -> None:
    slots = hour_slots(date(2026, 11, 1), NY)
    assert [s.label for s in slots[:4]] == ["00", "01 EDT", "01 EST", "02"]
    assert [s.clock for s in slots[1:3]] == ["01:00 EDT", "01:00 EST"]
    assert slots[2].start - slots[1].start == 3600
    spring = hour_slots(date(2026, 3, 8), NY)
    assert [s.label for s in spring[:3]] == ["00", "01", "03"]


@pytest.mark.parametrize("day", [date(2026, 3, 8), date(2026, 11, 1), date(2026, 6, 1)])
def test_every_second_of_the_window_falls_in_one_of_its_slots(day: date) -> None:
    start, end = day_window(day, NY)
    keys = {slot.key for slot in hour_slots(day, NY)}
    seen = {hour_key(ts, NY) for ts in range(start, end, 600)}
    assert seen == keys


@pytest.mark.parametrize(
    ("last_sent", "now", "expected"),
    [
        # Before 07:00 on the 9th, the 8th is not due; the 7th went out yesterday.
        (date(2026, 3, 7), local(2026, 3, 9, 6, 59), []),
        (date(2026, 3, 7), local(2026, 3, 9, 7, 0), [date(2026, 3, 8)]),
        (date(2026, 3, 7), local(2026, 3, 9, 23, 59), [date(2026, 3, 8)]),
        # Never twice: the 8th is recorded, so nothing more until 07:00 on the 10th.
        (date(2026, 3, 8), local(2026, 3, 9, 7, 0), []),
        (date(2026, 3, 8), local(2026, 3, 10, 6, 59), []),
        (date(2026, 3, 8), local(2026, 3, 10, 7, 0), [date(2026, 3, 9)]),
        # After a week down only the most recent missed date is sent.
        (date(2026, 3, 1), local(2026, 3, 9, 10, 0), [date(2026, 3, 8)]),
        # A fresh install sends the most recent due date.
        (None, local(2026, 3, 9, 6, 0), [date(2026, 3, 7)]),
        (None, local(2026, 3, 9, 8, 0), [date(2026, 3, 8)]),
        # `now` in any zone: 11:30 UTC is 07:30 EDT on the 9th.
        (date(2026, 3, 7), datetime(2026, 3, 9, 11, 30, tzinfo=UTC), [date(2026, 3, 8)]),
        (date(2026, 3, 7), datetime(2026, 3, 9, 10, 30, tzinfo=UTC), []),
    ],
)
def test_due_dates(last_sent: date | None, now: datetime, expected: list[date]) -> None:
    assert due_dates(last_sent, now, SEVEN, NY) == expected


def test_due_dates_around_the_clock_change() -> None:
    # The report of the 7th is due at 02:30 on the 8th, which the clocks skip: at 03:30 EDT.
    at = time(2, 30)
    assert due_at(date(2026, 3, 7), at, NY) == utc(2026, 3, 8, 7, 30)
    assert due_dates(date(2026, 3, 6), local(2026, 3, 8, 3, 29), at, NY) == []
    assert due_dates(date(2026, 3, 6), local(2026, 3, 8, 3, 30), at, NY) == [date(2026, 3, 7)]
    # 01:30 on 1 November happens twice: the report of 31 October is due at the first one.
    early = time(1, 30)
    assert due_at(date(2026, 10, 31), early, NY) == utc(2026, 11, 1, 5, 30)
    sent = [date(2026, 10, 30)]
    for minutes in range(0, 240, 10):
        now = datetime(2026, 11, 1, 5, 0, tzinfo=UTC) + timedelta(minutes=minutes)
        for day in due_dates(sent[-1], now, early, NY):
            sent.append(day)
    assert sent == [date(2026, 10, 30), date(2026, 10, 31)]


def test_a_day_of_ticks_sends_each_date_once() -> None:
    sent: list[date] = [date(2026, 3, 6)]
    moment = local(2026, 3, 7, 0, 0)
    while moment < local(2026, 3, 12, 0, 0):
        sent.extend(due_dates(sent[-1], moment, SEVEN, NY))
        moment += timedelta(minutes=7)
    assert sent == [date(2026, 3, 6) + timedelta(days=n) for n in range(5)]


def test_skipped_dates_name_the_backlog_left_behind() -> None:
    now = local(2026, 3, 9, 10, 0)
    assert skipped_dates(date(2026, 3, 5), now, SEVEN, NY) == [date(2026, 3, 6), date(2026, 3, 7)]
    assert skipped_dates(date(2026, 3, 7), now, SEVEN, NY) == []
    assert skipped_dates(date(2026, 3, 8), now, SEVEN, NY) == []
    assert skipped_dates(None, now, SEVEN, NY) == []
    assert latest_due(now, SEVEN, NY) == date(2026, 3, 8)


@pytest.mark.parametrize(
    ("now", "late"),
    [
        (local(2026, 3, 9, 7, 0), False),
        (local(2026, 3, 9, 7, 5), False),
        (local(2026, 3, 9, 7, 5, 1), True),
        (local(2026, 3, 9, 9, 0), True),
    ],
)
def test_is_late_after_the_grace(now: datetime, late: bool) -> None:
    assert is_late(date(2026, 3, 8), now, SEVEN, NY) is late


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_dates(None, datetime(2026, 3, 9, 7, 0), SEVEN, NY)
    with pytest.raises(ValueError, match="aware"):
        is_late(date(2026, 3, 8), datetime(2026, 3, 9, 7, 0), SEVEN, NY)
