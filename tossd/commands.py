"""What each `tossd` subcommand does, given its parsed arguments; returns the exit code."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import date
from pathlib import Path

from tossd.app import run_daemon
from tossd.config import Config, find_config_path, load_config, render_effective
from tossd.demo import run_demo
from tossd.errors import ApiKeyRejected, ApiUnavailable, ConfigError, TossdError
from tossd.eventlist import parse_since, render_json_lines, render_table
from tossd.health import check_health
from tossd.log import configure_logging
from tossd.notify.deliver import DrainReport
from tossd.notify.urlmask import url_secrets
from tossd.outbox import render_outbox, send_tests
from tossd.report import run_report
from tossd.resources import open_store, poll_once, ready_routes, retry_outbox
from tossd.sandbox.runner import SandboxOptions, run_sandbox
from tossd.sandbox.server import Faults


def load(args: argparse.Namespace) -> Config:
    path = find_config_path(args.config, os.environ)
    config = load_config(path, os.environ)
    key = config.api.resolved_key
    secrets = [key.get_secret_value()] if key is not None else []
    secrets += [part for route in config.route for url in route.urls() for part in url_secrets(url)]
    configure_logging(config.log.level, config.log.format, secrets=secrets)
    return config


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load(args)
    print(render_effective(config), end="")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    configure_logging("info", "auto", secrets=[args.api_key])
    faults = Faults(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        http_500_rate=args.http_500_rate,
        hang_rate=args.hang_rate,
        malformed_rate=args.malformed_rate,
        numbers_as_strings=args.numbers_as_strings,
        seed=args.seed,
    )
    options = SandboxOptions(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        seed=args.seed,
        activity_every=args.activity_every,
        extensions=args.extensions,
        faults=faults,
    )
    asyncio.run(run_sandbox(options))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    asyncio.run(run_daemon(load(args)))
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    config = load(args)
    reports, delivered = asyncio.run(poll_once(config))
    for report in reports:
        print(
            f"{report.stream.value}: {report.extensions} numbers polled, {report.failed} failed, "
            f"{report.new} new events ({report.announced} announced)"
        )
    print(_delivery_line(delivered))
    if any(r.key_rejected for r in reports):
        raise ApiKeyRejected("every request was refused: check api.key")
    if reports and all(r.extensions and r.failed == r.extensions for r in reports):
        raise ApiUnavailable("every poll failed; see the log above")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    config = load(args)
    now = int(time.time())
    try:
        since = parse_since(args.since, now) if args.since else None
    except ValueError as exc:
        raise TossdError(str(exc)) from exc
    with open_store(config) as store:
        events = store.list_events(kind=args.kind, since=since, limit=args.limit)
        numbers = {e.extensionid: e.alias or e.did for e in store.all_extensions()}
    print(render_json_lines(events) if args.json else render_table(events, numbers), end="")
    return 0


def _delivery_line(report: DrainReport) -> str:
    return (
        f"notifications: {report.sent} sent, {report.failed} failed "
        f"({report.dead} given up), {report.postponed} waiting for audio"
    )


def cmd_outbox_list(args: argparse.Namespace) -> int:
    config = load(args)
    with open_store(config) as store:
        rows = store.ledger().listing(state=args.state, limit=args.limit)
    print(render_outbox(rows), end="")
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    config = load(args)
    ids = [args.id] if args.id is not None else []
    count, report = asyncio.run(retry_outbox(config, ids=ids, include_dead=args.all))
    print(f"{count} notifications due again")
    print(_delivery_line(report))
    return 0 if report.failed == 0 else 1


def cmd_notify_test(args: argparse.Namespace) -> int:
    config = load(args)
    routes = [r for r in ready_routes(config) if args.route in (None, r.name)]
    if not routes:
        raise ConfigError(f"route: no route named {args.route!r}" if args.route else "route: none")
    results = asyncio.run(send_tests(routes, timeout_s=config.delivery.timeout_s))
    for route, target, outcome in results:
        print(f"{route}  {target}  {outcome}")
    return 0 if all(outcome == "ok" for *_, outcome in results) else 1


def cmd_report(args: argparse.Namespace) -> int:
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


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 while every stream succeeded within three intervals, else 1 (for Docker)."""
    return check_health(load(args))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = load(args)
    open_store(config).close()
    print("database schema is up to date")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    configure_logging("warning", "console")
    asyncio.run(run_demo(Path(args.dir), duration_s=args.duration))
    return 0
