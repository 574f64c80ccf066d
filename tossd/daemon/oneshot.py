"""The one-shot runs behind `tossd poll --once`, `tossd outbox retry` and `tossd report`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path

from tossd.config.model import Config
from tossd.config.report import ReportConfig
from tossd.daemon.database import open_store
from tossd.daemon.resources import open_client, open_deliverer, open_poller
from tossd.daemon.routes import ready_routes
from tossd.domain import DeliveryState, DrainReport, StreamReport, TargetKind
from tossd.errors import ConfigError, TossdError
from tossd.notify.message import SendResult
from tossd.notify.replan import Replanned, replan
from tossd.report.period import Period, PeriodKind, period_of
from tossd.report.reporter import PreparedReport, Reporter
from tossd.report.text import render_report
from tossd.report.window import period_window
from tossd.transcribe.running import transcribe_due


async def poll_once(config: Config) -> tuple[list[StreamReport], DrainReport]:
    """`tossd poll --once`: every stream once, pending audio and transcripts, one delivery pass."""
    routes = ready_routes(config)
    with open_store(config) as store:
        async with open_client(config) as api:
            reports = await open_poller(config, api, store).poll_all()
        await transcribe_due(config, store)
        return reports, await open_deliverer(config, store, routes).drain()


async def retry_outbox(
    config: Config, *, ids: list[int], include_dead: bool
) -> tuple[int, Replanned, DrainReport]:
    """`tossd outbox retry`: make undelivered rows due now and deliver them.

    With `--all` (or `--id` naming one), dead and orphaned rows come back too: onto their
    own target if it is still configured, else re-planned onto the current routes.
    """
    routes = ready_routes(config)
    with open_store(config) as store:
        ledger = store.ledger()
        missing = sorted(set(ids) - {row.id for row in ledger.rows(ids)})
        if missing:
            raise TossdError(f"--id {missing[0]}: no such notification (see `tossd outbox`)")
        deliverer = open_deliverer(config, store, routes)
        now = int(time.time())
        count = ledger.retry(now, ids=ids)  # the owed rows first: then each is counted once
        replanned = Replanned()
        if include_dead or ids:
            extensions = {e.extensionid: e for e in store.all_extensions()}
            replanned = replan(ledger, routes, extensions, now, ids=ids)
        count += replanned.due
        return count, replanned, await deliverer.drain()


@dataclass(frozen=True)
class ReportRun:
    """What `tossd report` did: the text shown, the chart, each target's result."""

    prepared: PreparedReport
    text: str
    results: tuple[tuple[str, SendResult], ...]
    recorded: bool


def period_to_report(
    period: Period | None, now: int, tz: tzinfo, kind: PeriodKind, *, dry_run: bool
) -> Period:
    """The last whole period by default; one that has not ended is for previews only."""
    today = datetime.fromtimestamp(now, tz).date()
    chosen = period_of(kind, today).previous() if period is None else period
    start, end = period_window(chosen, tz)
    if start > now:
        raise TossdError(f"{chosen.key} has not begun yet in {tz}")
    if end > now and not dry_run:
        raise TossdError(f"{chosen.key} has not ended yet in {tz}; --dry-run shows it")
    return chosen


def day_to_report(day: date | None, now: int, tz: tzinfo, *, dry_run: bool) -> date:
    """Yesterday by default; a day that has not ended yet is for previews (`--dry-run`) only."""
    period = None if day is None else period_of(PeriodKind.DAY, day)
    return period_to_report(period, now, tz, PeriodKind.DAY, dry_run=dry_run).first


def with_report(config: Config, report: ReportConfig) -> tuple[ReportConfig, ...]:
    """The configured reports with `report` in place of the one of its name (or added)."""
    others = [r for r in config.reports if r.name != report.name]
    return (*others, report)


async def run_report(
    config: Config,
    report_config: ReportConfig,
    *,
    period: Period | None = None,
    dry_run: bool = False,
    out_dir: Path | None = None,
    now: int | None = None,
) -> ReportRun:
    """`tossd report [--date D] [--dry-run]`: build one report and send it, or only show it.

    It takes the daemon's path: the period is recorded (so the daemon will not send it
    again), its messages are planned into the ledger, then delivered while this waits. A
    target that fails keeps its row, which the daemon retries. A period recorded already
    is still sent (someone asked for it by name), and stays recorded once.
    """
    now = int(time.time()) if now is None else now
    routes = [] if dry_run else ready_routes(config, reports=with_report(config, report_config))
    with open_store(config) as store:
        async with open_client(config) as api:
            out = out_dir or config.state_dir / "reports"
            reporter = Reporter.of(api, store.stats(), report_config, routes, out)
            if not dry_run and not reporter.targets:
                raise ConfigError('report: set report.notify or a route with events = ["report"]')
            chosen = period_to_report(period, now, reporter.tz, reporter.kind, dry_run=dry_run)
            prepared = await reporter.prepare(chosen, now=now, late=False)
        text = "\n\n".join(render_report(prepared.report, kind=TargetKind.PLAIN))
        if dry_run:
            return ReportRun(prepared, text, (), recorded=False)
        recorded = reporter.record(prepared, now=now)
        deliverer = open_deliverer(config, store, routes)
        ids = deliverer.enqueue_report(prepared.messages, prepared.routes)
        await deliverer.drain(only=ids)
        results = [
            (row.target_label, SendResult(row.state is DeliveryState.SENT, row.last_error))
            for row in store.ledger().rows(ids)
        ]
    return ReportRun(prepared, text, tuple(results), recorded)
