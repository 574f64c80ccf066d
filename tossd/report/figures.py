"""A report's figures: one local day per number, from callSummary and the event store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

import structlog

from tossd.api.client import Client
from tossd.api.models import CallSummary
from tossd.config.report import ReportConfig
from tossd.domain import KnownExtension
from tossd.errors import ApiError
from tossd.notify.routing import selects
from tossd.report.window import HourSlot, day_window, due_at, hour_slots, is_late
from tossd.store.stats import ExtensionStats, HourCounts, Stats

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NumberReport:
    """One number's day: the provider's callSummary (None: it failed) and the store's counts."""

    extension: KnownExtension
    summary: CallSummary | None
    activity: ExtensionStats
    #: Calls per local hour, aligned with `Report.slots`.
    hourly: tuple[HourCounts, ...]


@dataclass(frozen=True)
class Totals:
    """The account's day; provider figures add up the numbers whose callSummary answered."""

    calls: int
    minutes: int
    average_minutes: float
    longest_minutes: int
    missed: int
    voicemails: int
    texts: int
    unavailable: int


@dataclass(frozen=True)
class Report:
    """One local day of the account: its window and hours, each number's figures."""

    day: date
    tz: tzinfo
    #: [local midnight, next local midnight) as Unix seconds: 23, 24 or 25 hours.
    window: tuple[int, int]
    slots: tuple[HourSlot, ...]
    numbers: tuple[NumberReport, ...]
    late: bool
    due_at: int
    generated_at: int

    @property
    def totals(self) -> Totals:
        known = [n.summary for n in self.numbers if n.summary is not None]
        calls = sum(s.totalcalls for s in known)
        minutes = sum(s.totalduration for s in known)
        return Totals(
            calls=calls,
            minutes=minutes,
            average_minutes=minutes / calls if calls else 0.0,
            longest_minutes=max((s.maxduration for s in known), default=0),
            missed=sum(n.activity.missed for n in self.numbers),
            voicemails=sum(n.activity.voicemails for n in self.numbers),
            texts=sum(n.activity.texts for n in self.numbers),
            unavailable=len(self.numbers) - len(known),
        )

    def summary_json(self) -> str:
        """The figures sent, for the reports table: no caller names or numbers."""
        numbers = [
            {
                "extensionid": n.extension.extensionid,
                "summary": None if n.summary is None else n.summary.model_dump(),
                **{k: getattr(n.activity, k) for k in ("calls", "missed", "voicemails", "texts")},
            }
            for n in self.numbers
        ]
        return json.dumps(
            {"day": self.day.isoformat(), "tz": str(self.tz), "window": list(self.window)}
            | {"late": self.late, "totals": vars(self.totals), "numbers": numbers},
            sort_keys=True,
        )


def _selected(
    extensions: Sequence[KnownExtension], config: ReportConfig, start: int, end: int
) -> list[KnownExtension]:
    """The configured numbers that were live at some moment of [start, end)."""
    wanted = frozenset(str(e) for e in config.extensions)
    live = [e for e in extensions if e.startdate < end and (e.enddate == 0 or e.enddate >= start)]
    return sorted((e for e in live if selects(wanted, e)), key=lambda e: e.extensionid)


async def _summary(api: Client, ext: KnownExtension, start: int, end: int) -> CallSummary | None:
    """callSummary of [start, end); None, logged, when it fails: the report goes out anyway."""
    try:
        # The API's windows include both ends.
        return await api.call_summary(startdate=start, enddate=end - 1, extensionid=ext.extensionid)
    except ApiError as exc:
        log.warning(
            "report.summary_failed",
            extensionid=ext.extensionid,
            error=exc.message,
            error_type=type(exc).__name__,
        )
        return None


async def build_report(
    api: Client,
    stats: Stats,
    extensions: Sequence[KnownExtension],
    day: date,
    tz: tzinfo,
    config: ReportConfig,
    *,
    now: int,
    late: bool | None = None,
) -> Report:
    """The figures of local `day`; `late` None means judged from `now` and `config.at`."""
    start, end = day_window(day, tz)
    numbers = _selected(extensions, config, start, end)
    summaries = await asyncio.gather(*(_summary(api, ext, start, end) for ext in numbers))
    activity = stats.activity(start, end, tz=tz, extensionids=[e.extensionid for e in numbers])
    slots = tuple(hour_slots(day, tz))
    if late is None:
        late = is_late(day, datetime.fromtimestamp(now, UTC), config.at_time, tz)
    figures = []
    for ext, summary in zip(numbers, summaries, strict=True):
        counts = activity[ext.extensionid]
        hourly = tuple(counts.hourly.get(slot.key, HourCounts()) for slot in slots)
        figures.append(NumberReport(ext, summary, counts, hourly))
    return Report(
        day, tz, (start, end), slots, tuple(figures), late, due_at(day, config.at_time, tz), now
    )
