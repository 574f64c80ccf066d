"""The usage reports: each prepared for one local period, recorded once per period, or on demand."""

# The figures come from assemble (the provider, the store where it knows more), the words
# from text, the chart from chart (matplotlib, imported only when a chart is drawn).

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import structlog

from tossd.api.client import Client
from tossd.config.report import FIRST_REPORT, ReportConfig
from tossd.domain import Notice
from tossd.errors import TossdError
from tossd.notify.message import Message
from tossd.notify.routing import Route, Target, unique_targets
from tossd.notify.targets import checked_target
from tossd.report.assemble import Report, build_report
from tossd.report.period import WEEKDAYS, Period, PeriodKind, period_of
from tossd.report.text import report_messages
from tossd.report.window import LATE_GRACE_S, due_periods, period_due, skipped_periods
from tossd.store.stats import Stats
from tossd.text.zones import host_timezone, zone

log = structlog.get_logger(__name__)

#: Charts stay this long for retries of their deliveries, then are removed.
KEEP_CHARTS_S = 14 * 86_400


@dataclass(frozen=True)
class PreparedReport:
    """A report ready to go: its chart file (if drawn), one Message per target, and the
    routes whose targets get it (its own `notify` and the routes taking "report")."""

    report: Report
    chart: Path | None
    messages: tuple[tuple[Target, Message], ...]
    routes: tuple[str, ...] = ()


def report_routes(config: ReportConfig, routes: Sequence[Route]) -> list[Route]:
    """Its own `notify` route and every `[[route]]` taking "report" (not other reports')."""
    return [
        route
        for route in routes
        if Notice.REPORT in route.events
        and (route.name == config.route_name or not route.name.startswith("[report"))
    ]


def report_targets(config: ReportConfig, routes: Sequence[Route]) -> tuple[Target, ...]:
    """`notify` plus the targets of every route whose events list "report"."""
    targets = [
        checked_target(url, f"notify[{index}]", f"report.notify[{index}]")
        for index, url in enumerate(config.urls())
    ]
    targets += [t for route in report_routes(config, routes) for t in route.targets]
    return unique_targets(targets)  # each target's rendering is looked up by its URL


@dataclass(frozen=True)
class Reporter:
    """One configured report, opened once: the daemon keeps one each, `tossd report` one."""

    api: Client
    stats: Stats
    config: ReportConfig
    targets: tuple[Target, ...]
    routes: tuple[str, ...]
    out_dir: Path
    tz: tzinfo

    @classmethod
    def of(
        cls, api: Client, stats: Stats, config: ReportConfig, routes: Sequence[Route], out_dir: Path
    ) -> Reporter:
        """Targets checked (a bad `report.notify` URL is a ConfigError), zone resolved."""
        tz = zone(config.timezone, host_timezone())
        names = tuple(route.name for route in report_routes(config, routes))
        return cls(api, stats, config, report_targets(config, routes), names, out_dir, tz)

    @property
    def kind(self) -> PeriodKind:
        return PeriodKind(self.config.period)

    @property
    def week_start(self) -> int:
        return WEEKDAYS.index(self.config.week_starts)

    def period_of(self, day: datetime) -> Period:
        return period_of(self.kind, day.astimezone(self.tz).date(), self.week_start)

    async def prepare(self, period: Period, *, now: int, late: bool | None) -> PreparedReport:
        """Build the report of `period`, draw its chart, render every target's copy."""
        due = period_due(period, self.config.at_time, self.tz)
        late = now > due + LATE_GRACE_S if late is None else late
        wanted = frozenset(str(e) for e in self.config.extensions)
        name = self.config.label or "tossd"
        report = await build_report(
            self.api,
            self.stats,
            period,
            self.tz,
            wanted=wanted,
            now=now,
            late=late,
            due_at=due,
            name=name,
        )
        # Drawing takes up to a second (the first time, importing matplotlib): off the loop.
        chart = await asyncio.to_thread(self._chart, report)
        messages = report_messages(report, self.targets, chart)
        return PreparedReport(report, chart, messages, self.routes)

    def record(self, prepared: PreparedReport, *, now: int) -> bool:
        """Claim the report's period (UNIQUE in the reports table); False if it was already."""
        report = prepared.report
        return self.stats.record_report(
            report.period.first,
            sent_at=now,
            late=report.late,
            summary_json=report.summary_json(),
            name=self.config.name,
            period=report.period.kind.value,
        )

    def _chart(self, report: Report) -> Path | None:
        if not self.config.chart or not report.numbers:
            return None
        self.out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in self.out_dir.glob("tossd-report-*.png"):
            if old.stat().st_mtime < report.generated_at - KEEP_CHARTS_S:
                old.unlink(missing_ok=True)
        own = "" if self.config.name == FIRST_REPORT else f"{self.config.name}-"
        name = f"tossd-report-{own}{report.period.key}.png"
        return draw_chart(report, self.out_dir / name)

    async def tick(
        self, *, now: int, deliver: Callable[[PreparedReport], Awaitable[None]]
    ) -> PreparedReport | None:
        """The daemon's report job: prepare the due report, claim its period, deliver it.

        The period is claimed (UNIQUE in the reports table) before `deliver` runs, so however
        often this runs, and in however many processes, a period is delivered at most once. A
        failure before the claim (the provider, the store) leaves it due for the next tick.
        Before tossd first listed the account's numbers nothing is due; a period that ended
        before then is never sent by itself (`tossd report --date` sends it).
        """
        if not self.config.enabled or not self.targets:
            return None
        first = self.stats.first_seen()
        if first is None:
            return None
        at, moment = self.config.at_time, datetime.fromtimestamp(now, UTC)
        last_day = self.stats.last_report_date(self.config.name, self.kind.value)
        last = None if last_day is None else period_of(self.kind, last_day, self.week_start)
        rule = (at, self.tz, self.kind, self.week_start)
        periods = due_periods(last, moment, *rule, first_start=first)
        if not periods:
            return None
        prepared = await self.prepare(periods[0], now=now, late=None)
        report = prepared.report
        if not self.record(prepared, now=now):
            log.info("report.already_sent", report=self.config.name, period=report.period.key)
            return None
        skipped = skipped_periods(last, moment, *rule)
        if skipped:
            log.warning(
                "report.skipped",
                report=self.config.name,
                first=skipped[0].key,
                count=len(skipped),
            )
        log.info(
            "report.sending", report=self.config.name, period=report.period.key, late=report.late
        )
        await deliver(prepared)
        return prepared


@dataclass(frozen=True)
class Reporters:
    """Every configured report, ticked together by the daemon's report job."""

    reporters: tuple[Reporter, ...]

    async def tick(
        self, *, now: int, deliver: Callable[[PreparedReport], Awaitable[None]]
    ) -> list[PreparedReport]:
        """Each report's `tick`; one report failing (its figures could not be fetched) leaves
        the others, and is tried again at the next tick."""
        sent = []
        for reporter in self.reporters:
            try:
                prepared = await reporter.tick(now=now, deliver=deliver)
            except TossdError as exc:
                log.warning("report.failed", report=reporter.config.name, error=exc.message)
                continue
            if prepared is not None:
                sent.append(prepared)
        return sent


def draw_chart(report: Report, path: Path) -> Path:
    """Draw the report's chart into the PNG file `path` (see `report.chart.chart_size`)."""
    # matplotlib takes most of a second to import: only a report that is drawn pays for it.
    from tossd.report.chart import draw_chart as draw

    return draw(report, path)
