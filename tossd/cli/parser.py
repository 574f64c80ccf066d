"""The `tossd` argument parser: every command, option and default (a public interface).

Command modules are imported here, but each imports its own dependencies only when it runs,
so `tossd --version` and `tossd health` load no more than they use.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tossd import __version__
from tossd.cli.config import cmd_config_check
from tossd.cli.daemon import cmd_db_upgrade, cmd_health, cmd_poll, cmd_run
from tossd.cli.events import cmd_events
from tossd.cli.outbox import cmd_notify_test, cmd_outbox_list, cmd_outbox_retry
from tossd.cli.report import cmd_report
from tossd.cli.sandbox import cmd_demo, cmd_sandbox
from tossd.cli.transcribe import cmd_transcribe
from tossd.domain import DeliveryState, EventKind


def _positive(text: str) -> int:
    """A count of 1 or more (`--limit`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (default: $TOSSD_CONFIG, ./tossd.toml, /etc/tossd/tossd.toml)",
    )


def _sandbox_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sandbox",
        help="serve the built-in imitation of the Tossable Digits API",
        description="Serve the built-in imitation of the Tossable Digits API. Point tossd at "
        'it with [api] url = "http://HOST:PORT/apihttp.php" and key = "sandbox" (the default '
        "--api-key); any other key is refused, as the real API refuses a wrong one.",
    )
    _add_config_option(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    p.add_argument(
        "--api-key", default="sandbox", help='the key clients must send (default: "sandbox")'
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the generated account")
    p.add_argument("--extensions", type=int, default=4, help="how many numbers the account has")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every reply")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of status:false replies")
    p.add_argument("--http-500-rate", type=float, default=0.0, help="share of HTTP 500 replies")
    p.add_argument("--hang-rate", type=float, default=0.0, help="share of requests never answered")
    p.add_argument("--malformed-rate", type=float, default=0.0, help="share of truncated bodies")
    p.add_argument(
        "--numbers-as-strings", action="store_true", help="send numbers as strings, like PHP"
    )
    p.add_argument(
        "--activity-every", type=float, default=5.0, help="seconds between new calls/voicemails"
    )
    p.add_argument("--call-lag-s", type=int, default=0, help="list call records this late")
    p.add_argument("--voicemail-lag-s", type=int, default=0, help="list voicemails this late")
    p.add_argument(
        "--per-number-only",
        action="store_true",
        help="refuse account-wide callRecords and smsGet (ask per number, like some providers)",
    )
    p.add_argument("--no-sms", action="store_true", help="an account without SMS (smsGet unknown)")
    p.add_argument(
        "--rate-limit", type=float, default=None, help="refuse requests over this many a second"
    )
    p.set_defaults(func=cmd_sandbox)


def _daemon_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run the daemon: poll every stream on its interval")
    _add_config_option(run)
    run.set_defaults(func=cmd_run)

    poll = sub.add_parser("poll", help="poll every stream once and exit")
    _add_config_option(poll)
    poll.add_argument("--once", action="store_true", required=True, help="poll once, then exit")
    poll.set_defaults(func=cmd_poll)

    events = sub.add_parser("events", help="list stored events, oldest first")
    _add_config_option(events)
    events.add_argument("--kind", choices=[k.value for k in EventKind])
    events.add_argument("--since", help="Unix seconds, ISO date/time, or 30m / 2h / 7d")
    events.add_argument("--limit", type=_positive, help="only the newest N")
    events.add_argument("--number", help="only this number: its DID, alias or extension id")
    events.add_argument(
        "--tz", help="time zone of the times shown (default: [delivery] timezone, else the host's)"
    )
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    events.add_argument(
        "--grep", metavar="WORD", help="only events whose text or transcript has it"
    )
    events.set_defaults(func=cmd_events)

    outbox = sub.add_parser("outbox", help="the delivery ledger: notifications owed")
    outbox_sub = outbox.add_subparsers(dest="outbox_command")
    listing = outbox_sub.add_parser("list", help="list notifications, newest first (default)")
    for parser in (outbox, listing):
        _add_config_option(parser)
        parser.add_argument("--state", choices=[s.value for s in DeliveryState])
        parser.add_argument("--limit", type=_positive, default=100)
        parser.set_defaults(func=cmd_outbox_list)
    retry = outbox_sub.add_parser("retry", help="send every undelivered notification now")
    _add_config_option(retry)
    retry.add_argument("--id", type=int, help="only this notification (even dead or orphaned)")
    retry.add_argument(
        "--all",
        action="store_true",
        help="include dead and orphaned ones, re-planned onto the current routes",
    )
    retry.set_defaults(func=cmd_outbox_retry)

    notify = sub.add_parser("notify", help="notification tools")
    notify_sub = notify.add_subparsers(dest="notify_command", required=True)
    test = notify_sub.add_parser("test", help="send a test message to every target")
    _add_config_option(test)
    test.add_argument("--route", help="only this route")
    test.set_defaults(func=cmd_notify_test)

    report = sub.add_parser("report", help="send (or --dry-run: show) a usage report")
    _add_config_option(report)
    report.add_argument(
        "--date",
        help="a day YYYY-MM-DD, a week YYYY-Www or a month YYYY-MM (default: the last one)",
    )
    report.add_argument("--period", choices=("day", "week", "month"), help="default: the report's")
    report.add_argument("--report", help="which [[report]] by name (default: the first)")
    report.add_argument("--dry-run", action="store_true", help="print it and write the chart only")
    report.add_argument("--out", help="folder for the chart (default: state_dir/reports)")
    report.set_defaults(func=cmd_report)

    transcribe = sub.add_parser(
        "transcribe", help="print what the configured transcription engine hears in an MP3"
    )
    _add_config_option(transcribe)
    transcribe.add_argument("file", type=Path, help="an MP3 file (a voicemail)")
    transcribe.set_defaults(func=cmd_transcribe)

    health = sub.add_parser("health", help="exit 0 if tossd is healthy, else 1 with reasons")
    _add_config_option(health)
    health.set_defaults(func=cmd_health)

    db = sub.add_parser("db", help="database tools")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="create or migrate the database schema")
    _add_config_option(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tossd", description="Real-time notifications for Tossable Digits virtual numbers."
    )
    parser.add_argument("--version", action="version", version=f"tossd {__version__}")
    _add_config_option(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate and print the effective config")
    _add_config_option(check)
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask the API: the key works, and every route's extensions name a number",
    )
    check.set_defaults(func=cmd_config_check)

    _sandbox_parser(sub)
    _daemon_parsers(sub)
    demo = sub.add_parser("demo", help="run tossd against the built-in sandbox (no account)")
    _add_config_option(demo)
    demo.add_argument("--dir", default="tossd-demo", help="where the demo keeps its state")
    demo.add_argument(
        "--for", dest="duration", type=float, help="stop by itself after SECONDS (else Ctrl-C)"
    )
    demo.set_defaults(func=cmd_demo)
    return parser
