"""Which instants a report's local day covers, its hours, and when it is due (pure, DST-aware)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from tossd.report.period import Period, PeriodKind, day_name, period_of
from tossd.text.zones import HourKey, hour_key

#: Seconds after the due time before a report counts as late (a slow start, a busy loop).
LATE_GRACE_S = 300
#: Offsets and DST transitions of the tz database fall on whole minutes since 1972.
_STEP_S = 60
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class HourSlot:
    """One local hour of a report's day; `start` is its first second (Unix).

    `label` is short, for a chart axis ("09", "01 EDT"); `clock` is for text ("09:00").
    """

    key: HourKey
    start: int
    label: str
    clock: str


@dataclass(frozen=True)
class DaySlot:
    """One local day of a week or month: `label` for a chart axis ("30"), `name` for text."""

    day: date
    start: int
    label: str
    name: str


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return now


def local_midnight(day: date, tz: tzinfo) -> int:
    """The instant `day` begins in `tz`, as Unix seconds.

    fold=0 gives the earlier reading: a midnight repeated by a DST end is the first one, and
    a midnight skipped by a DST start (America/Havana) maps to the instant of the jump, so
    the day begins at 01:00 and the days before and after still meet without a gap.
    """
    return int(datetime.combine(day, time(0), tzinfo=tz).timestamp())


def day_window(day: date, tz: tzinfo) -> tuple[int, int]:
    """[local midnight of `day`, local midnight of the next day): 23, 24 or 25 hours."""
    return local_midnight(day, tz), local_midnight(day + _ONE_DAY, tz)


def due_at(day: date, at: time, tz: tzinfo) -> int:
    """When the report for `day` is due: `at` local time on the next day (Unix seconds).

    An `at` that the clocks skip that day (02:30 on a spring-forward night) falls on the
    instant after the jump; one they repeat counts once, at its first occurrence.
    """
    return int(datetime.combine(day + _ONE_DAY, at.replace(fold=0), tzinfo=tz).timestamp())


def period_window(period: Period, tz: tzinfo) -> tuple[int, int]:
    """[local midnight of its first day, local midnight after its last): a week with a
    23- or 25-hour day is 167 or 169 hours, a month likewise."""
    return local_midnight(period.first, tz), local_midnight(period.end, tz)


def period_due(period: Period, at: time, tz: tzinfo) -> int:
    """When the report of `period` is due: `at` local time on the day after its last."""
    return due_at(period.end - _ONE_DAY, at, tz)


def latest_due_period(
    now: datetime, at: time, tz: tzinfo, kind: PeriodKind = PeriodKind.DAY, week_start: int = 0
) -> Period:
    """The most recent period of `kind` whose report is due at `now`."""
    today = _aware(now).astimezone(tz).date()
    latest = period_of(kind, today, week_start).previous()
    return latest if now.timestamp() >= period_due(latest, at, tz) else latest.previous()


def due_periods(
    last_sent: Period | None,
    now: datetime,
    at: time,
    tz: tzinfo,
    kind: PeriodKind = PeriodKind.DAY,
    week_start: int = 0,
    *,
    first_start: int | None = None,
) -> list[Period]:
    """The periods to report now: the most recent due one, unless already sent; else [].

    After downtime only the most recent missed period is sent (late), never a backlog: a
    week of old reports arriving at once buries the one that matters, and every older one
    stays one `tossd report --date` away. See `skipped_periods` for the caller's log line.
    Before any report was sent, a period that ended before tossd's `first_start` is not
    sent at all: a fresh install's first morning says nothing about a day it never saw.
    """
    latest = latest_due_period(now, at, tz, kind, week_start)
    if last_sent is not None and last_sent >= latest:
        return []
    ended_before_first_start = first_start is not None and (
        period_window(latest, tz)[1] <= first_start
    )
    if last_sent is None and ended_before_first_start:
        return []
    return [latest]


def skipped_periods(
    last_sent: Period | None,
    now: datetime,
    at: time,
    tz: tzinfo,
    kind: PeriodKind = PeriodKind.DAY,
    week_start: int = 0,
) -> list[Period]:
    """The due periods `due_periods` passes over: after `last_sent`, before the latest."""
    if last_sent is None:
        return []
    latest = latest_due_period(now, at, tz, kind, week_start)
    skipped, step = [], last_sent.following()
    while step < latest:
        skipped.append(step)
        step = step.following()
    return skipped


def latest_due(now: datetime, at: time, tz: tzinfo) -> date:
    """The most recent day whose report is due at `now`."""
    return latest_due_period(now, at, tz).first


def due_dates(last_sent: date | None, now: datetime, at: time, tz: tzinfo) -> list[date]:
    """`due_periods` of daily reports, as dates."""
    last = None if last_sent is None else period_of(PeriodKind.DAY, last_sent)
    return [period.first for period in due_periods(last, now, at, tz)]


def skipped_dates(last_sent: date | None, now: datetime, at: time, tz: tzinfo) -> list[date]:
    """`skipped_periods` of daily reports, as dates."""
    last = None if last_sent is None else period_of(PeriodKind.DAY, last_sent)
    return [period.first for period in skipped_periods(last, now, at, tz)]


def is_late(day: date, now: datetime, at: time, tz: tzinfo, grace_s: int = LATE_GRACE_S) -> bool:
    """Whether a report for `day` sent at `now` is later than its due time plus `grace_s`."""
    return _aware(now).timestamp() > due_at(day, at, tz) + grace_s


def day_slots(period: Period, tz: tzinfo) -> list[DaySlot]:
    """Every local day of `period`, with its first second: a week's or month's chart axis."""
    return [
        DaySlot(day, local_midnight(day, tz), f"{day.day}", day_name(day)) for day in period.days
    ]


def hour_slots(day: date, tz: tzinfo) -> list[HourSlot]:
    """Every local hour of `day` in order: 23 on a spring-forward day, 25 on a fall-back day.

    Walking the window minute by minute finds each hour however the zone shifts (by an
    hour, or by 30 minutes as Lord Howe Island does). A repeated hour is labelled with its
    zone abbreviation ("01 EDT", "01 EST"), every other one by its number alone ("01").
    """
    start, end = day_window(day, tz)
    firsts: dict[HourKey, int] = {}
    for ts in range(start, end, _STEP_S):
        firsts.setdefault(hour_key(ts, tz), ts)
    repeated = Counter(hour for hour, _ in firsts)
    slots = []
    for key, first in firsts.items():
        local = datetime.fromtimestamp(first, tz)
        zone = f" {local.tzname() or ''}".rstrip() if repeated[key[0]] > 1 else ""
        slots.append(HourSlot(key, first, f"{key[0]:02d}{zone}", f"{local:%H:%M}{zone}"))
    return slots
