"""Which instants a report's local day covers, its hours, and when it is due (pure, DST-aware)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

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


def latest_due(now: datetime, at: time, tz: tzinfo) -> date:
    """The most recent day whose report is due at `now`."""
    yesterday = _aware(now).astimezone(tz).date() - _ONE_DAY
    return yesterday if now.timestamp() >= due_at(yesterday, at, tz) else yesterday - _ONE_DAY


def due_dates(last_sent: date | None, now: datetime, at: time, tz: tzinfo) -> list[date]:
    """The report dates to send now: the most recent due one, unless already sent; else [].

    After downtime only the most recent missed date is sent (late), never a backlog: a
    week of old reports arriving at once buries the one that matters, and every older day
    stays one `tossd report --date` away. See `skipped_dates` for the caller's log line.
    Without any report sent yet (a fresh install), the most recent due date is sent.
    """
    latest = latest_due(now, at, tz)
    if last_sent is not None and last_sent >= latest:
        return []
    return [latest]


def skipped_dates(last_sent: date | None, now: datetime, at: time, tz: tzinfo) -> list[date]:
    """The due dates `due_dates` passes over: after `last_sent`, before the latest due one."""
    if last_sent is None:
        return []
    latest = latest_due(now, at, tz)
    return [last_sent + _ONE_DAY * n for n in range(1, (latest - last_sent).days)]


def is_late(day: date, now: datetime, at: time, tz: tzinfo, grace_s: int = LATE_GRACE_S) -> bool:
    """Whether a report for `day` sent at `now` is later than its due time plus `grace_s`."""
    return _aware(now).timestamp() > due_at(day, at, tz) + grace_s


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
