"""`tossd run`, `tossd poll --once`, `tossd health` and `tossd db upgrade`."""

from __future__ import annotations

import argparse

from tossd.cli.outbox import delivery_line
from tossd.cli.startup import load
from tossd.errors import ApiKeyRejected, ApiUnavailable


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from tossd.cli.startup import load_rereadable, use_logging
    from tossd.daemon.lifecycle import run_daemon

    config, reread = load_rereadable(args)
    asyncio.run(run_daemon(config, reread, use_logging))
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    import asyncio

    from tossd.daemon.oneshot import poll_once

    config = load(args)
    reports, delivered = asyncio.run(poll_once(config))
    for report in reports:
        print(
            f"{report.stream.value}: {report.extensions} numbers polled, {report.failed} failed, "
            f"{report.new} new events ({report.announced} announced)"
        )
    print(delivery_line(delivered))
    if any(r.key_rejected for r in reports):
        raise ApiKeyRejected("every request was refused: check api.key")
    if reports and all(r.extensions and r.failed == r.extensions for r in reports):
        raise ApiUnavailable("every poll failed; see the log above")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 while every stream succeeded within three intervals, else 1 (for Docker)."""
    from tossd.daemon.health import check_health

    return check_health(load(args))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from tossd.daemon.database import upgrade_store

    print(upgrade_store(load(args)))
    return 0
