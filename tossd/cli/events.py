"""`tossd events`: list stored events, oldest first (a table, or JSON lines)."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from tossd.cli.startup import load
from tossd.errors import TossdError

if TYPE_CHECKING:
    from datetime import tzinfo

    from tossd.config.model import Config
    from tossd.store.store import Store


def cmd_events(args: argparse.Namespace) -> int:
    from tossd.cli.eventlist import matches, parse_since, render_json_lines, render_table
    from tossd.daemon.database import open_existing_store

    config = load(args)
    now = int(time.time())
    try:
        since = parse_since(args.since, now) if args.since else None
    except ValueError as exc:
        raise TossdError(str(exc)) from exc
    tz = _zone_of(args.tz, config)
    store = open_existing_store(config)
    events, numbers, transcripts = [], {}, {}
    if store is not None:  # no database yet: nothing stored, and nothing is created
        with store:
            ids = _numbers_named(args.number, store) if args.number else None
            # --grep looks at every event in range, then keeps the newest --limit of those.
            limit = None if args.grep else args.limit
            events = store.list_events(kind=args.kind, since=since, limit=limit, extensionids=ids)
            transcripts = store.transcripts_for([e.id for e in events])
            numbers = {e.extensionid: e.alias or e.did for e in store.all_extensions()}
        if args.grep:
            events = [e for e in events if matches(e, transcripts.get(e.id), args.grep)]
            events = events[-args.limit :] if args.limit else events
    elif args.number:
        raise TossdError(f"--number {args.number!r}: no number is known yet")
    shown = (
        render_json_lines(events, transcripts)
        if args.json
        else render_table(events, numbers, tz, transcripts)
    )
    print(shown, end="")
    return 0


def _zone_of(name: str | None, config: Config) -> tzinfo:
    """--tz, else `[delivery] timezone` (what notifications say), else the host's zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from tossd.text.zones import host_timezone, zone

    if name is None:
        return zone(config.delivery.timezone, host_timezone())
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TossdError(f"--tz {name!r}: unknown time zone (use an IANA name)") from None


def _numbers_named(wanted: str, store: Store) -> list[int]:
    from tossd.cli.eventlist import matching_numbers

    known = store.all_extensions()
    found = matching_numbers(wanted, known)
    if not found:
        listed = ", ".join(sorted(e.alias or e.did for e in known)[:10])
        raise TossdError(f"--number {wanted!r}: no number has that DID, alias or id ({listed})")
    return found
