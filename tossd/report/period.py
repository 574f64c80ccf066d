"""A report's period: a local day, week or month, named, parsed and stepped (pure, no zone)."""

# Periods are spans of local dates; the instants they cover depend on the time zone and are
# worked out in `tossd.report.window`, so a week or month is DST-correct however it falls.

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from tossd.errors import TossdError

_ONE_DAY = timedelta(days=1)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FULL_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def day_name(day: date) -> str:
    """`Mon 30 Nov`: spelled out rather than strftime's %a/%b, which follow the locale."""
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"


@dataclass(frozen=True, order=True)
class Period:
    """The local dates [first, end): one day, seven days, or one calendar month."""

    first: date
    end: date
    kind: PeriodKind

    @property
    def days(self) -> list[date]:
        return [self.first + _ONE_DAY * n for n in range((self.end - self.first).days)]

    @property
    def key(self) -> str:
        """The period as `--date` spells it: `2026-11-30`, `2026-W48`, `2026-11` (a week
        from another weekday: `2026-11-29+7`)."""
        if self.kind is PeriodKind.MONTH:
            return f"{self.first:%Y-%m}"
        if self.kind is PeriodKind.WEEK:
            if self.first.weekday() == 0:
                year, week, _ = self.first.isocalendar()
                return f"{year}-W{week:02d}"
            return f"{self.first.isoformat()}+7"
        return self.first.isoformat()

    @property
    def label(self) -> str:
        """For people: `Mon 30 Nov 2026`, `Week 2026-W48 (Mon 23 Nov - Sun 29 Nov 2026)`,
        `November 2026`."""
        if self.kind is PeriodKind.DAY:
            return f"{day_name(self.first)} {self.first.year}"
        if self.kind is PeriodKind.MONTH:
            return f"{_FULL_MONTHS[self.first.month - 1]} {self.first.year}"
        last = self.end - _ONE_DAY
        span = f"{day_name(self.first)} - {day_name(last)} {last.year}"
        if self.first.weekday() == 0:
            year, week, _ = self.first.isocalendar()
            return f"Week {year}-W{week:02d} ({span})"
        return f"Week of {span}"

    @property
    def chart_label(self) -> str:
        """For a chart's title, shorter than `label`: `Week 2026-W48, 23 Nov - 29 Nov 2026`."""
        if self.kind is not PeriodKind.WEEK:
            return self.label
        last = self.end - _ONE_DAY
        span = f"{self.first.day} {_MONTHS[self.first.month - 1]} - {last.day} "
        return f"Week {self.short}, {span}{_MONTHS[last.month - 1]} {last.year}"

    @property
    def short(self) -> str:
        """For a title: `Mon 30 Nov`, `2026-W48`, `Nov 2026`."""
        if self.kind is PeriodKind.DAY:
            return day_name(self.first)
        if self.kind is PeriodKind.MONTH:
            return f"{_MONTHS[self.first.month - 1]} {self.first.year}"
        if self.first.weekday() == 0:
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        return f"week of {day_name(self.first)}"

    def previous(self) -> Period:
        return period_of(self.kind, self.first - _ONE_DAY, self.first.weekday())

    def following(self) -> Period:
        return period_of(self.kind, self.end, self.first.weekday())


def period_of(kind: PeriodKind, day: date, week_start: int = 0) -> Period:
    """The period of `kind` holding `day`; weeks begin on weekday `week_start` (0: Monday)."""
    if kind is PeriodKind.DAY:
        return Period(day, day + _ONE_DAY, kind)
    if kind is PeriodKind.WEEK:
        first = day - _ONE_DAY * ((day.weekday() - week_start) % 7)
        return Period(first, first + _ONE_DAY * 7, kind)
    first = day.replace(day=1)
    end = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(first, end, kind)


def parse_period(
    text: str,
    kind: PeriodKind | None,
    week_start: int = 0,
    default: PeriodKind = PeriodKind.DAY,
) -> Period:
    """`--date`: `2026-11-30` (the `kind`, else `default`, period holding that day),
    `2026-W48` (an ISO week) or `2026-11` (a month); `kind` None means "as written"."""
    text = text.strip()
    try:
        if match := _WEEK.match(text):
            if kind not in (None, PeriodKind.WEEK):
                raise TossdError(f"--date {text!r} is a week; --period {kind} wants another")
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            return period_of(PeriodKind.WEEK, monday, week_start)
        if match := _MONTH.match(text):
            if kind not in (None, PeriodKind.MONTH):
                raise TossdError(f"--date {text!r} is a month; --period {kind} wants another")
            return period_of(PeriodKind.MONTH, date(int(match[1]), int(match[2]), 1))
        return period_of(kind or default, date.fromisoformat(text), week_start)
    except ValueError:
        raise TossdError(
            f"--date {text!r}: expected a day YYYY-MM-DD, a week YYYY-Www or a month YYYY-MM"
        ) from None
