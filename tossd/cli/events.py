"""`tossd events`: list stored events, oldest first (a table, or JSON lines)."""

from __future__ import annotations

import argparse
import time

from tossd.cli.startup import load
from tossd.errors import TossdError


def cmd_events(args: argparse.Namespace) -> int:
    from tossd.cli.eventlist import parse_since, render_json_lines, render_table
    from tossd.daemon.database import open_existing_store

    config = load(args)
    now = int(time.time())
    try:
        since = parse_since(args.since, now) if args.since else None
    except ValueError as exc:
        raise TossdError(str(exc)) from exc
    store = open_existing_store(config)
    events, numbers = [], {}
    if store is not None:  # no database yet: nothing stored, and nothing is created
        with store:
            events = store.list_events(kind=args.kind, since=since, limit=args.limit)
            numbers = {e.extensionid: e.alias or e.did for e in store.all_extensions()}
    print(render_json_lines(events) if args.json else render_table(events, numbers), end="")
    return 0
