"""Report windows and due dates across daylight-saving changes (pure)."""

from __future__ import annotations

import random
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
        # The day before the change is an ordinary 24 hours of EST.
        (date(2026, 3, 7), utc(2026, 3, 7, 5), utc(2026, 3, 8, 5), 24),
        # A summer day: 24 hours of EDT.
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
        # At 07:00 on the 9th the 8th is due.
        (date(2026, 3, 7), local(2026, 3, 9, 7, 0), [date(2026, 3, 8)]),
        # It stays due all day until it is sent.
        (date(2026, 3, 7), local(2026, 3, 9, 23, 59), [date(2026, 3, 8)]),
        # Never twice: the 8th is recorded, so nothing more until 07:00 on the 10th.
        (date(2026, 3, 8), local(2026, 3, 9, 7, 0), []),
        # A minute before the 9th is due, still nothing.
        (date(2026, 3, 8), local(2026, 3, 10, 6, 59), []),
        # At 07:00 on the 10th the 9th is due.
        (date(2026, 3, 8), local(2026, 3, 10, 7, 0), [date(2026, 3, 9)]),
        # After a week down only the most recent missed date is sent.
        (date(2026, 3, 1), local(2026, 3, 9, 10, 0), [date(2026, 3, 8)]),
        # A fresh install sends the most recent due date.
        (None, local(2026, 3, 9, 6, 0), [date(2026, 3, 7)]),
        # A fresh install after 07:00 sends yesterday's.
        (None, local(2026, 3, 9, 8, 0), [date(2026, 3, 8)]),
        # `now` in any zone: 11:30 UTC is 07:30 EDT on the 9th.
        (date(2026, 3, 7), datetime(2026, 3, 9, 11, 30, tzinfo=UTC), [date(2026, 3, 8)]),
        # 10:30 UTC is 06:30 EDT: not yet.
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
        # Sent at the due time: on time.
        (local(2026, 3, 9, 7, 0), False),
        # At the end of the five-minute grace: still on time.
        (local(2026, 3, 9, 7, 5), False),
        # A second past the grace: late.
        (local(2026, 3, 9, 7, 5, 1), True),
        # Two hours after: late.
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


LONDON = ZoneInfo("Europe/London")
HAVANA = ZoneInfo("America/Havana")
MIDNIGHT = time(0, 0)
LATE_NIGHT = time(23, 59)


def at_utc(
    year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "at", "tz", "expected"),
    [
        # Due at midnight: the first second of the 10th makes the 9th due.
        (local(2026, 3, 10, 0, 0), MIDNIGHT, NY, date(2026, 3, 9)),
        # Due at midnight: the last second of the 9th still has the 8th as the latest.
        (local(2026, 3, 9, 23, 59, 59), MIDNIGHT, NY, date(2026, 3, 8)),
        # Due at 23:59: a minute before it, the day before yesterday is the latest.
        (local(2026, 3, 10, 23, 58), LATE_NIGHT, NY, date(2026, 3, 8)),
        # Due at 23:59: at 23:59 yesterday becomes due.
        (local(2026, 3, 10, 23, 59), LATE_NIGHT, NY, date(2026, 3, 9)),
        # Due at 23:59: just after midnight, yesterday (the 10th) is not due until tonight.
        (local(2026, 3, 11, 0, 0), LATE_NIGHT, NY, date(2026, 3, 9)),
        # The 23-hour day (spring forward): the 7th is due at 07:00 EDT, 11:00 UTC.
        (at_utc(2026, 3, 8, 11, 0), SEVEN, NY, date(2026, 3, 7)),
        # A second before 07:00 EDT (which would be 06:00 EST): not yet.
        (at_utc(2026, 3, 8, 10, 59, 59), SEVEN, NY, date(2026, 3, 6)),
        # The report of the 23-hour day itself is due at 07:00 EDT on the 9th.
        (at_utc(2026, 3, 9, 11, 0), SEVEN, NY, date(2026, 3, 8)),
        # The 25-hour day (fall back): 11:00 UTC is 06:00 EST, though it would be 07:00 EDT.
        (at_utc(2026, 11, 1, 11, 0), SEVEN, NY, date(2026, 10, 30)),
        # 07:00 EST, 12:00 UTC: the 31st is due.
        (at_utc(2026, 11, 1, 12, 0), SEVEN, NY, date(2026, 10, 31)),
        # The report of the 25-hour day itself is due at 07:00 EST on the 2nd.
        (at_utc(2026, 11, 2, 12, 0), SEVEN, NY, date(2026, 11, 1)),
        # An `at` inside the spring-forward gap (02:30): 03:29 EDT is still before it.
        (local(2026, 3, 8, 3, 29), time(2, 30), NY, date(2026, 3, 6)),
        # The skipped 02:30 falls on 03:30 EDT, the instant after the jump.
        (local(2026, 3, 8, 3, 30), time(2, 30), NY, date(2026, 3, 7)),
        # A minute before the jump (01:59 EST), the skipped 02:30 has not come.
        (local(2026, 3, 8, 1, 59), time(2, 30), NY, date(2026, 3, 6)),
        # The next day has a real 02:30 again (EDT).
        (local(2026, 3, 9, 2, 30), time(2, 30), NY, date(2026, 3, 8)),
        # London's gap is 01:00-02:00 GMT: an `at` of 01:30 falls on 02:30 BST (01:30 UTC).
        (at_utc(2026, 3, 29, 1, 30), time(1, 30), LONDON, date(2026, 3, 28)),
        # A second before that, the 27th is still the latest.
        (at_utc(2026, 3, 29, 1, 29, 59), time(1, 30), LONDON, date(2026, 3, 27)),
        # An `at` the clocks repeat (01:30 on 1 November) counts at its first pass (EDT).
        (at_utc(2026, 11, 1, 5, 30), time(1, 30), NY, date(2026, 10, 31)),
        # The second pass (01:30 EST) changes nothing: the 31st is still the latest.
        (at_utc(2026, 11, 1, 6, 30), time(1, 30), NY, date(2026, 10, 31)),
        # Havana skips midnight (00:00 CST -> 01:00 CDT): a midnight due time is the jump.
        (datetime(2026, 3, 8, 1, 0, tzinfo=HAVANA), MIDNIGHT, HAVANA, date(2026, 3, 7)),
        # The second before the jump is still the 7th: the 6th is the latest.
        (datetime(2026, 3, 7, 23, 59, 59, tzinfo=HAVANA), MIDNIGHT, HAVANA, date(2026, 3, 6)),
    ],
)
def test_latest_due(now: datetime, at: time, tz: ZoneInfo, expected: date) -> None:
    assert latest_due(now, at, tz) == expected


@pytest.mark.parametrize(
    ("last_sent", "now", "expected"),
    [
        # Three days down: the two between the last sent and the one sent now are skipped.
        (date(2026, 3, 5), local(2026, 3, 9, 10, 0), [date(2026, 3, 6), date(2026, 3, 7)]),
        # Before 07:00 the latest due is the 7th, so only the 6th is skipped.
        (date(2026, 3, 5), local(2026, 3, 9, 6, 0), [date(2026, 3, 6)]),
        # One day behind: the latest is sent, nothing is skipped.
        (date(2026, 3, 7), local(2026, 3, 9, 10, 0), []),
        # Up to date: nothing skipped.
        (date(2026, 3, 8), local(2026, 3, 9, 10, 0), []),
        # A last sent date after the latest due (the clock was set back): nothing skipped.
        (date(2026, 3, 12), local(2026, 3, 9, 10, 0), []),
        # A fresh install skips nothing: there is no backlog to speak of.
        (None, local(2026, 3, 9, 10, 0), []),
        # Across the 23-hour day: days are counted as dates, not as 24-hour steps.
        (date(2026, 3, 6), local(2026, 3, 10, 7, 0), [date(2026, 3, 7), date(2026, 3, 8)]),
    ],
)
def test_skipped_dates(last_sent: date | None, now: datetime, expected: list[date]) -> None:
    assert skipped_dates(last_sent, now, SEVEN, NY) == expected


@pytest.mark.parametrize(
    ("day", "now", "at", "grace_s", "late"),
    [
        # The skipped 02:30 is due at 03:30 EDT: five minutes after, still on time.
        (date(2026, 3, 7), local(2026, 3, 8, 3, 35), time(2, 30), 300, False),
        # A second past the grace on the spring-forward day: late.
        (date(2026, 3, 7), local(2026, 3, 8, 3, 35, 1), time(2, 30), 300, True),
        # On the 25-hour day 07:00 EST is 12:00 UTC: 12:05 UTC is on time.
        (date(2026, 10, 31), at_utc(2026, 11, 1, 12, 5), SEVEN, 300, False),
        # No grace: a second after the due time is late.
        (date(2026, 3, 8), local(2026, 3, 9, 7, 0, 1), SEVEN, 0, True),
        # No grace: exactly at the due time is not.
        (date(2026, 3, 8), local(2026, 3, 9, 7, 0), SEVEN, 0, False),
        # Sent before it was due (`tossd report --date`): never late.
        (date(2026, 3, 8), local(2026, 3, 8, 12, 0), SEVEN, 0, False),
        # A week after: late.
        (date(2026, 3, 1), local(2026, 3, 9, 7, 0), SEVEN, 300, True),
    ],
)
def test_is_late_on_dst_days_and_with_other_graces(
    day: date, now: datetime, at: time, grace_s: int, late: bool
) -> None:
    assert is_late(day, now, at, NY, grace_s) is late


def test_random_starts_never_send_twice_nor_early() -> None:
    rng = random.Random(1729)
    zones = [NY, LONDON, HAVANA, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")]
    lo = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    hi = int(datetime(2031, 1, 1, tzinfo=UTC).timestamp())
    sent_some = 0
    for _ in range(3000):
        tz = rng.choice(zones)
        at = time(rng.randrange(24), rng.choice((0, 15, 30, 45, 59)))
        instant = rng.randrange(lo, hi)
        now = datetime.fromtimestamp(instant, rng.choice([tz, UTC]))
        today = now.astimezone(tz).date()
        last_sent = rng.choice([None, today - timedelta(days=rng.randrange(-2, 10))])
        dates = due_dates(last_sent, now, at, tz)
        assert len(dates) <= 1
        latest = latest_due(now, at, tz)
        if not dates:
            assert last_sent is not None
            assert last_sent >= latest
            continue
        sent_some += 1
        (day,) = dates
        # Never one already sent, never one not yet due, and none newer is due.
        assert last_sent is None or day > last_sent
        assert due_at(day, at, tz) <= instant
        assert due_at(day + timedelta(days=1), at, tz) > instant
        # Sent and skipped together are every date since the last one sent.
        if last_sent is not None:
            owed = [last_sent + timedelta(days=n) for n in range(1, (day - last_sent).days + 1)]
            assert [*skipped_dates(last_sent, now, at, tz), day] == owed
    # Both branches were exercised.
    assert 500 < sent_some < 2900
