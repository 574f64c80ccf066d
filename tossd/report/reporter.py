"""The nightly usage report: prepared for one local day, sent once per date, or on demand."""

# The figures are in report_figures, the words in report_text, the chart in report_chart
# (matplotlib, imported only when a chart is drawn); this module puts them to work.

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

import structlog

from tossd.api.client import Client
from tossd.config.report import ReportConfig
from tossd.domain import KnownExtension, Notice
from tossd.notify.message import Message
from tossd.notify.routing import Route, Target, unique_targets
from tossd.notify.targets import checked_target
from tossd.report.figures import Report, build_report
from tossd.report.text import report_messages
from tossd.report.window import due_dates, skipped_dates
from tossd.store.stats import Stats
from tossd.text.zones import host_timezone, zone

log = structlog.get_logger(__name__)

#: Charts stay this long for retries of their deliveries, then are removed.
KEEP_CHARTS_S = 14 * 86_400


@dataclass(frozen=True)
class PreparedReport:
    """A report ready to go: its chart file (if drawn) and one Message per target."""

    report: Report
    chart: Path | None
    messages: tuple[tuple[Target, Message], ...]


def report_targets(config: ReportConfig, routes: Sequence[Route]) -> tuple[Target, ...]:
    """`[report].notify` plus the targets of every route whose events list "report"."""
    targets = [
        checked_target(url, f"notify[{index}]", f"report.notify[{index}]")
        for index, url in enumerate(config.urls())
    ]
    targets += [t for route in routes if Notice.REPORT in route.events for t in route.targets]
    return unique_targets(targets)  # each target's rendering is looked up by its URL


@dataclass(frozen=True)
class Reporter:
    """What reports need, opened once: the daemon keeps one, `tossd report` makes one."""

    api: Client
    stats: Stats
    config: ReportConfig
    targets: tuple[Target, ...]
    out_dir: Path
    tz: tzinfo

    @classmethod
    def of(
        cls, api: Client, stats: Stats, config: ReportConfig, routes: Sequence[Route], out_dir: Path
    ) -> Reporter:
        """Targets checked (a bad `report.notify` URL is a ConfigError), zone resolved."""
        tz = zone(config.timezone, host_timezone())
        return cls(api, stats, config, report_targets(config, routes), out_dir, tz)

    async def prepare(
        self, extensions: Sequence[KnownExtension], day: date, *, now: int, late: bool | None
    ) -> PreparedReport:
        """Build the report of `day`, draw its chart, render every target's copy."""
        report = await build_report(
            self.api, self.stats, extensions, day, self.tz, self.config, now=now, late=late
        )
        # Drawing takes up to a second (the first time, importing matplotlib): off the loop.
        chart = await asyncio.to_thread(self._chart, report)
        return PreparedReport(report, chart, report_messages(report, self.targets, chart))

    def _chart(self, report: Report) -> Path | None:
        if not self.config.chart or not report.numbers:
            return None
        self.out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in self.out_dir.glob("tossd-report-*.png"):
            if old.stat().st_mtime < report.generated_at - KEEP_CHARTS_S:
                old.unlink(missing_ok=True)
        return draw_chart(report, self.out_dir / f"tossd-report-{report.day.isoformat()}.png")

    async def tick(
        self,
        extensions: Sequence[KnownExtension],
        *,
        now: int,
        deliver: Callable[[PreparedReport], Awaitable[None]],
    ) -> PreparedReport | None:
        """The daemon's report job: prepare the due report, claim its date, then deliver it.

        The date is claimed (UNIQUE in the reports table) before `deliver` runs, so however
        often this runs, and in however many processes, a date is delivered at most once. A
        failure before the claim (the store) leaves the date due for the next tick.
        """
        if not self.config.enabled or not self.targets:
            return None
        at, moment = self.config.at_time, datetime.fromtimestamp(now, UTC)
        last = self.stats.last_report_date()
        days = due_dates(last, moment, at, self.tz)
        if not days:
            return None
        prepared = await self.prepare(extensions, days[0], now=now, late=None)
        report = prepared.report
        if not self.stats.record_report(
            report.day, sent_at=now, late=report.late, summary_json=report.summary_json()
        ):
            log.info("report.already_sent", day=report.day.isoformat())
            return None
        skipped = skipped_dates(last, moment, at, self.tz)
        if skipped:
            log.warning("report.skipped", first=skipped[0].isoformat(), count=len(skipped))
        log.info("report.sending", day=report.day.isoformat(), late=report.late)
        await deliver(prepared)
        return prepared


def draw_chart(report: Report, path: Path) -> Path:
    """Draw the report's chart into the PNG file `path` (see `report_chart.chart_size`)."""
    # matplotlib takes most of a second to import: only a report that is drawn pays for it.
    from tossd.report.chart import draw_chart as draw

    return draw(report, path)
