"""`tossd report`: send (or `--dry-run`: show) the usage report of one local day."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from tossd.cli.startup import load
from tossd.errors import TossdError


def cmd_report(args: argparse.Namespace) -> int:
    import asyncio

    from tossd.daemon.oneshot import run_report

    config = load(args)
    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        raise TossdError(f"--date {args.date!r}: expected YYYY-MM-DD") from None
    out = Path(args.out) if args.out else None
    run = asyncio.run(run_report(config, config.report, day=day, dry_run=args.dry_run, out_dir=out))
    if args.dry_run:
        print(run.text)
    if run.prepared.chart is not None:
        print(f"chart: {run.prepared.chart}")
    for label, result in run.results:
        print(f"{label}  {'ok' if result.ok else f'FAILED: {result.error}'}")
    return 0 if all(result.ok for _, result in run.results) else 1
