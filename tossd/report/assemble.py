"""A whole report: its period, window and slots, each number's figures, the previous period
for comparison, from the provider (and the store where it knows more)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, tzinfo
from functools import reduce

from tossd.api.client import Client
from tossd.report.figures import (
    Counts,
    Figures,
    NumberReport,
    TopCaller,
    number_reports,
    top_callers,
)
from tossd.report.period import Period, PeriodKind, day_name
from tossd.report.provider import fetch_period
from tossd.report.window import DaySlot, HourSlot, day_slots, hour_slots, period_window
from tossd.store.stats import Stats

#: How many busiest hours and days a week's or month's report lists.
BUSIEST = 3
Slot = HourSlot | DaySlot


@dataclass(frozen=True)
class Previous:
    """The period before, for a week's or month's comparison: totals and calls per day."""

    period: Period
    totals: Figures
    slots: tuple[Counts, ...]


@dataclass(frozen=True)
class Report:
    """One period of the account: window, slots (hours of a day, days of a week or month)
    and each number's figures; text and chart are both drawn from these values."""

    period: Period
    tz: tzinfo
    #: [local midnight, local midnight after the last day) as Unix seconds.
    window: tuple[int, int]
    slots: tuple[Slot, ...]
    numbers: tuple[NumberReport, ...]
    late: bool
    due_at: int
    generated_at: int
    #: Who the report is about, for its title: the report's label (else "tossd").
    name: str = "tossd"
    previous: Previous | None = None

    @property
    def totals(self) -> Figures:
        return reduce(lambda a, b: a + b, (n.figures for n in self.numbers), Figures())

    @property
    def account_slots(self) -> tuple[Counts, ...]:
        """Calls per slot for the whole account."""
        empty = tuple(Counts() for _ in self.slots)
        return reduce(
            lambda acc, n: tuple(a + b for a, b in zip(acc, n.slots, strict=True)),
            self.numbers,
            empty,
        )

    @property
    def busiest_hours(self) -> list[tuple[int, int]]:
        """(local hour, calls) of the busiest hours of the day across the period."""
        hours: Counter[int] = Counter()
        for number in self.numbers:
            hours.update(number.hours)
        return sorted(hours.items(), key=lambda item: (-item[1], item[0]))[:BUSIEST]

    @property
    def busiest_days(self) -> list[tuple[DaySlot, int]]:
        """(day, calls) of the busiest days of a week or month (none for a day)."""
        days = [
            (slot, counts.calls)
            for slot, counts in zip(self.slots, self.account_slots, strict=True)
            if isinstance(slot, DaySlot) and counts.calls
        ]
        return sorted(days, key=lambda item: (-item[1], item[0].day))[:BUSIEST]

    @property
    def top_callers(self) -> tuple[TopCaller, ...]:
        return top_callers(self.numbers)

    def summary_json(self) -> str:
        """The figures sent, for the reports table: no caller names or numbers."""
        numbers = [
            {"extensionid": n.extension.extensionid, **asdict(n.figures), "notes": list(n.notes)}
            for n in self.numbers
        ]
        return json.dumps(
            {"period": self.period.kind.value, "key": self.period.key, "tz": str(self.tz)}
            | {"window": list(self.window), "late": self.late, "totals": asdict(self.totals)}
            | {"numbers": numbers},
            sort_keys=True,
        )


def ended_text(number: NumberReport, report: Report) -> str:
    """How the text and the chart mark a number that ended by the period's end: `ended 14:05`
    (a day), `ended Mon 23 Nov 14:05` (a week or month), or "" for a number still live."""
    enddate = number.extension.enddate
    if not number.ended_by(report.window[1]):
        return ""
    if enddate <= report.window[0]:
        return "ended"
    local = datetime.fromtimestamp(enddate, report.tz)
    if report.period.kind is PeriodKind.DAY:
        return f"ended {local:%H:%M}"
    return f"ended {day_name(local.date())} {local:%H:%M}"


def slots_of(period: Period, tz: tzinfo) -> tuple[Slot, ...]:
    """A day's hours, or a week's or month's days."""
    if period.kind is PeriodKind.DAY:
        return tuple(hour_slots(period.first, tz))
    return tuple(day_slots(period, tz))


async def gather_numbers(
    api: Client,
    stats: Stats,
    wanted: frozenset[str],
    period: Period,
    tz: tzinfo,
    slots: tuple[Slot, ...],
) -> list[NumberReport]:
    """Each selected number's figures for `period`, asked of the provider now."""
    start, end = period_window(period, tz)
    provider = await fetch_period(api, wanted, start, end)
    stored = stats.stored_counts(start, end, [e.extensionid for e in provider.extensions])
    hour_of = {c.startdate: datetime.fromtimestamp(c.startdate, tz).hour for c in provider.calls}
    return number_reports(provider, stored, [s.start for s in slots], hour_of)


async def build_report(
    api: Client,
    stats: Stats,
    period: Period,
    tz: tzinfo,
    *,
    wanted: frozenset[str] = frozenset(),
    now: int,
    late: bool,
    due_at: int,
    name: str = "tossd",
) -> Report:
    """The report of `period`; a week or month is compared with the one before it."""
    slots = slots_of(period, tz)
    numbers = await gather_numbers(api, stats, wanted, period, tz, slots)
    previous = None
    if period.kind is not PeriodKind.DAY:
        before = period.previous()
        before_slots = slots_of(before, tz)
        others = await gather_numbers(api, stats, wanted, before, tz, before_slots)
        earlier = Report(
            before, tz, period_window(before, tz), before_slots, tuple(others), False, 0, 0
        )
        previous = Previous(before, earlier.totals, earlier.account_slots)
    window = period_window(period, tz)
    return Report(period, tz, window, slots, tuple(numbers), late, due_at, now, name, previous)
