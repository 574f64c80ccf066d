"""The nightly usage report: prepared for one local day, sent once per date, or on demand."""

# The figures are in report_figures, the words in report_text, the chart in report_chart
# (matplotlib, imported only when a chart is drawn); this module puts them to work.

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

import structlog

from tossd.api import Client
from tossd.config import Config
from tossd.config_report import ReportConfig
from tossd.errors import ConfigError, TossdError
from tossd.notify.apprise_edge import send as apprise_send
from tossd.notify.apprise_edge import target_info, validate_url
from tossd.notify.message import Message, SendResult
from tossd.notify.routing import Route, Target, fingerprint
from tossd.notify.targets import host_timezone, zone
from tossd.notify.urlmask import mask_url
from tossd.report_figures import NumberReport, Report, Totals, build_report
from tossd.report_text import render_report, render_report_html, report_messages
from tossd.report_window import day_window, due_dates, skipped_dates
from tossd.resources import open_client, open_store, ready_routes
from tossd.store import KnownExtension
from tossd.store.stats import Stats

__all__ = [
    "NumberReport",
    "PreparedReport",
    "Report",
    "ReportRun",
    "Reporter",
    "Totals",
    "build_report",
    "draw_chart",
    "render_report",
    "render_report_html",
    "report_messages",
    "report_targets",
    "run_report",
]

log = structlog.get_logger(__name__)

#: Charts stay this long for retries of their deliveries, then are removed.
KEEP_CHARTS_S = 14 * 86_400
Send = Callable[..., Awaitable[SendResult]]


@dataclass(frozen=True)
class PreparedReport:
    """A report ready to go: its chart file (if drawn) and one Message per target."""

    report: Report
    chart: Path | None
    messages: tuple[tuple[Target, Message], ...]


def report_targets(config: ReportConfig, routes: Sequence[Route]) -> tuple[Target, ...]:
    """`[report].notify` plus the targets of every route whose events list "report"."""
    targets = []
    for index, url in enumerate(config.urls()):
        reason = validate_url(url)
        if reason is not None:
            raise ConfigError(f"report.notify[{index}]: {reason}")
        targets.append(Target(url, fingerprint(url), mask_url(url), target_info(url)))
    targets += [t for route in routes if "report" in route.events for t in route.targets]
    return tuple(dict.fromkeys(targets))


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
    from tossd.report_chart import draw_chart as draw

    return draw(report, path)


@dataclass(frozen=True)
class ReportRun:
    """What `tossd report` did: the text shown, the chart, each target's result."""

    prepared: PreparedReport
    text: str
    results: tuple[tuple[str, SendResult], ...]
    recorded: bool


def day_to_report(day: date | None, now: int, tz: tzinfo, *, dry_run: bool) -> date:
    """Yesterday by default; a day that has not ended yet is for previews (`--dry-run`) only."""
    chosen = datetime.fromtimestamp(now, tz).date() - timedelta(days=1) if day is None else day
    start, end = day_window(chosen, tz)
    if start > now:
        raise TossdError(f"{chosen.isoformat()} has not begun yet in {tz}")
    if end > now and not dry_run:
        raise TossdError(f"{chosen.isoformat()} has not ended yet in {tz}; --dry-run shows it")
    return chosen


async def run_report(
    config: Config,
    report_config: ReportConfig,
    *,
    day: date | None = None,
    dry_run: bool = False,
    out_dir: Path | None = None,
    now: int | None = None,
    send: Send = apprise_send,
) -> ReportRun:
    """`tossd report [--date D] [--dry-run]`: build one report and send it, or only show it.

    A sent report is recorded, so the daemon will not send that date again; the command
    itself sends a date even if it was recorded already: someone asked for it by name.
    """
    now = int(time.time()) if now is None else now
    routes = [] if dry_run else ready_routes(config)
    with open_store(config) as store:
        stats = store.stats()
        async with open_client(config) as api:
            reporter = Reporter.of(
                api, stats, report_config, routes, out_dir or config.state_dir / "reports"
            )
            if not dry_run and not reporter.targets:
                raise ConfigError('report: set report.notify or a route with events = ["report"]')
            chosen = day_to_report(day, now, reporter.tz, dry_run=dry_run)
            prepared = await reporter.prepare(store.all_extensions(), chosen, now=now, late=False)
        text = "\n\n".join(render_report(prepared.report, kind="plain"))
        if dry_run:
            return ReportRun(prepared, text, (), recorded=False)
        results = []
        for target, message in prepared.messages:
            kind, timeout_s = target.info.kind, config.delivery.timeout_s
            results.append(
                (target.label, await send(target.url, message, kind=kind, timeout_s=timeout_s))
            )
        summary = prepared.report.summary_json()
        recorded = any(result.ok for _, result in results) and stats.record_report(
            chosen, sent_at=now, late=False, summary_json=summary
        )
    return ReportRun(prepared, text, tuple(results), recorded)
