"""`tossd outbox [list|retry]` and `tossd notify test`: the ledger and the targets."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tossd.cli.startup import load
from tossd.errors import ConfigError

if TYPE_CHECKING:
    from tossd.domain import DrainReport


def delivery_line(report: DrainReport) -> str:
    """One line on what a delivery pass did (`poll --once`, `outbox retry`)."""
    return (
        f"notifications: {report.sent} sent, {report.failed} failed "
        f"({report.dead} given up), {report.postponed} waiting for audio"
    )


def cmd_outbox_list(args: argparse.Namespace) -> int:
    from tossd.daemon.database import open_existing_store
    from tossd.notify.outbox import render_outbox

    config = load(args)
    store = open_existing_store(config)
    rows = []
    if store is not None:  # no database yet: nothing owed, and nothing is created
        with store:
            rows = store.ledger().listing(state=args.state, limit=args.limit)
    print(render_outbox(rows), end="")
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    import asyncio

    from tossd.daemon.oneshot import retry_outbox

    config = load(args)
    ids = [args.id] if args.id is not None else []
    count, replanned, report = asyncio.run(retry_outbox(config, ids=ids, include_dead=args.all))
    print(f"{count} notifications due again")
    if (line := replanned.line()) is not None:
        print(line)
    print(delivery_line(report))
    return 0 if report.failed == 0 else 1


def cmd_notify_test(args: argparse.Namespace) -> int:
    import asyncio

    from tossd.daemon.routes import ready_routes
    from tossd.notify.outbox import send_tests

    config = load(args)
    routes = [r for r in ready_routes(config) if args.route in (None, r.name)]
    if not routes:
        raise ConfigError(f"route: no route named {args.route!r}" if args.route else "route: none")
    results = asyncio.run(send_tests(routes, timeout_s=config.delivery.timeout_s))
    for route, target, outcome in results:
        print(f"{route}  {target}  {outcome}")
    return 0 if all(outcome == "ok" for *_, outcome in results) else 1
