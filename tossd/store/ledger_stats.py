"""Read-only facts about the store for health checks and metrics: states, counts, ages.

Plain SQL that every database reads alike, run by a reader: the standard library's sqlite3
for `tossd health` on a SQLite file (no SQLAlchemy, no ORM: it runs every minute in a
container), or the daemon's own engine. A test checks the columns named here against the
tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tossd.domain import OWED_STATES, DeliveryState, KnownExtension, Stream
from tossd.errors import StoreError
from tossd.store.records import Closable, PollState
from tossd.store.sqlite_reader import Rows, SqliteReader, sqlite_file

if TYPE_CHECKING:
    from sqlalchemy import Engine

EXTENSION_COLUMNS = ("extensionid", "did", "alias", "startdate", "enddate", "active")
POLL_STATE_COLUMNS = (
    "extensionid",
    "stream",
    "watermark",
    "last_success_at",
    "last_attempt_at",
    "last_error",
    "consecutive_failures",
    "first_polled_at",
)
#: The table each statement reads, and the columns it names (checked against the schema).
COLUMNS = {
    "extensions": EXTENSION_COLUMNS,
    "poll_state": POLL_STATE_COLUMNS,
    "events": ("kind",),
    "deliveries": ("state", "created_at"),
    "nodes": ("node", "heartbeat_at"),
    "leadership": ("duty", "node", "since", "term", "polled_at"),
}
_OWED = ", ".join(f"'{state.value}'" for state in OWED_STATES)  # our own enum's values


class Reader(Protocol):
    def rows(self, action: str, sql: str) -> Rows: ...

    def close(self) -> None: ...


class StoreFacts(Closable):
    """A few aggregate queries, each one short read transaction; never writes."""

    def __init__(self, reader: Reader) -> None:
        """Use `on_engine` (the daemon) or `open_existing` (the CLI)."""
        self._reader = reader

    @classmethod
    def on_engine(cls, engine: Engine) -> StoreFacts:
        from tossd.store.engine import EngineReader  # the daemon has SQLAlchemy loaded

        return cls(EngineReader(engine, owned=False))

    @classmethod
    def open_existing(cls, url: str) -> StoreFacts:
        """On the database at `url`, which must exist: never creates it, never migrates it
        (`tossd health` must not write, nor pay Alembic's start-up for a read)."""
        db_file = sqlite_file(url)
        if db_file is not None:
            if not db_file.is_file():
                raise StoreError(f"no database at {db_file}: the daemon has not run yet")
            return cls(SqliteReader(db_file))
        from tossd.store.engine import EngineReader, create_engine

        return cls(EngineReader(create_engine(url), owned=True))

    def close(self) -> None:
        self._reader.close()

    def extensions(self) -> tuple[list[KnownExtension], int]:
        """The active extensions, and how many extensions were ever seen (ended ones too)."""
        sql = f"SELECT {', '.join(EXTENSION_COLUMNS)} FROM extensions ORDER BY extensionid"
        found = self._reader.rows("list extensions", sql)
        active = [
            KnownExtension(int(eid), str(did), str(alias), int(start), int(end))
            for eid, did, alias, start, end, is_active in found
            if is_active
        ]
        return active, len(found)

    def poll_states(self) -> list[PollState]:
        """Every (extension, stream) poll state; a few rows per number."""
        columns = ", ".join(POLL_STATE_COLUMNS)
        sql = f"SELECT {columns} FROM poll_state ORDER BY extensionid, stream"
        return [
            PollState(
                extensionid=int(eid),
                stream=Stream(stream),
                watermark=watermark,
                last_success_at=success,
                last_attempt_at=int(attempt),
                last_error=error,
                consecutive_failures=int(failures),
                first_polled_at=first,
            )
            for eid, stream, watermark, success, attempt, error, failures, first in (
                self._reader.rows("read the poll states", sql)
            )
        ]

    def events_by_kind(self) -> dict[str, int]:
        sql = "SELECT kind, COUNT(*) FROM events GROUP BY kind"
        return {str(kind): int(n) for kind, n in self._reader.rows("count events", sql)}

    def deliveries_by_state(self) -> dict[str, int]:
        """Every ledger state, zeros included."""
        sql = "SELECT state, COUNT(*) FROM deliveries GROUP BY state"
        found = {str(s): int(n) for s, n in self._reader.rows("count deliveries", sql)}
        return {state: found.get(state, 0) for state in DeliveryState}

    def oldest_open_created_at(self) -> int | None:
        """When the oldest pending or retrying delivery was created; None when none is open."""
        sql = f"SELECT MIN(created_at) FROM deliveries WHERE state IN ({_OWED})"
        rows = self._reader.rows("read the oldest open delivery", sql)
        value = rows[0][0] if rows else None
        return None if value is None else int(value)

    def nodes(self) -> list[NodeFacts]:
        """The poll leader first (if any), then every node by name: heartbeats and roles."""
        sql = (
            "SELECT n.node, n.heartbeat_at, l.since, l.term, l.polled_at FROM nodes n "
            "LEFT JOIN leadership l ON l.duty = 'poll' AND l.node = n.node "
            "ORDER BY l.term IS NULL, n.node"
        )
        return [
            NodeFacts(str(node), int(beat), _int(since), _int(term), _int(polled))
            for node, beat, since, term, polled in self._reader.rows("read the nodes", sql)
        ]


@dataclass(frozen=True)
class NodeFacts:
    """A daemon sharing the store: its last heartbeat; `since`/`term` while it leads."""

    node: str
    heartbeat_at: int
    since: int | None
    term: int | None
    polled_at: int | None


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))
