"""`tossd report`: send (or `--dry-run`: show) the usage report of one local period."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from tossd.cli.startup import load
from tossd.errors import TossdError

if TYPE_CHECKING:  # `tossd --version` loads no pydantic: the command imports it when run
    from tossd.config.model import Config
    from tossd.config.report import ReportConfig


def chosen_report(config: Config, name: str | None, period: str | None) -> ReportConfig:
    """`--report NAME`, else the first report of `--period`, else the first report (made
    to cover `--period` when none does)."""
    reports = config.reports
    if name is not None:
        found = [r for r in reports if r.name == name]
        if not found:
            known = ", ".join(r.name for r in reports)
            raise TossdError(f"--report {name!r}: no such report (configured: {known})")
        report = found[0]
    else:
        report = next((r for r in reports if period in (None, r.period)), reports[0])
    return (
        report if period in (None, report.period) else report.model_copy(update={"period": period})
    )


def cmd_report(args: argparse.Namespace) -> int:
    import asyncio

    from tossd.daemon.oneshot import run_report
    from tossd.report.period import WEEKDAYS, PeriodKind, parse_period

    config = load(args)
    report = chosen_report(config, args.report, args.period)
    kind = PeriodKind(report.period)
    week_start = WEEKDAYS.index(report.week_starts)
    asked = PeriodKind(args.period) if args.period else None
    period = None if args.date is None else parse_period(args.date, asked, week_start, kind)
    if period is not None and period.kind is not kind:
        report = report.model_copy(update={"period": period.kind.value})
    out = Path(args.out) if args.out else None
    run = asyncio.run(run_report(config, report, period=period, dry_run=args.dry_run, out_dir=out))
    if args.dry_run:
        print(run.text)
    if run.prepared.chart is not None:
        print(f"chart: {run.prepared.chart}")
    for label, result in run.results:
        print(f"{label}  {'ok' if result.ok else f'FAILED: {result.error}'}")
    return 0 if all(result.ok for _, result in run.results) else 1
