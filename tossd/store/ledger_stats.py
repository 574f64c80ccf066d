"""Read-only facts about the store for health checks and metrics: states, counts, ages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, func

from tossd.domain import OWED_STATES, DeliveryState, KnownExtension
from tossd.errors import StoreError
from tossd.store.engine import create_engine, sqlite_path, store_errors
from tossd.store.records import Closable, PollState, poll_state_of

# The few columns these reads touch, declared with Core: `tossd health` (every minute in a
# container) then loads no ORM and no SQLModel. A test checks them against the tables.
EXTENSIONS = sa.table(
    "extensions", *map(sa.column, ("extensionid", "did", "alias", "startdate", "enddate", "active"))
)
EVENTS = sa.table("events", sa.column("kind"))
DELIVERIES = sa.table("deliveries", sa.column("state"), sa.column("created_at"))
POLL_STATE = sa.table(
    "poll_state",
    *map(
        sa.column,
        (
            "extensionid",
            "stream",
            "watermark",
            "last_success_at",
            "last_attempt_at",
            "last_error",
            "consecutive_failures",
            "first_polled_at",
        ),
    ),
)


class StoreFacts(Closable):
    """A few aggregate queries, each one short read transaction; never writes."""

    def __init__(self, engine: Engine, *, owns_engine: bool = False) -> None:
        """On the daemon's engine (`owns_engine=False`), or `open_existing` for the CLI."""
        self._engine = engine
        self._owns_engine = owns_engine

    @classmethod
    def open_existing(cls, url: str) -> StoreFacts:
        """Its own engine on the database at `url`, which must exist: never creates it.

        No migration either: `tossd health` runs every minute in a container and must not
        write, nor pay Alembic's start-up for a read.
        """
        db_file = sqlite_path(url)
        if db_file is not None and not db_file.is_file():
            raise StoreError(f"no database at {db_file}: the daemon has not run yet")
        return cls(create_engine(url), owns_engine=True)

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    @contextmanager
    def _reading(self, action: str) -> Iterator[Connection]:
        where = self._engine.url.render_as_string(hide_password=True)
        with store_errors(f"{action} in {where}"), self._engine.begin() as connection:
            yield connection

    def extensions(self) -> tuple[list[KnownExtension], int]:
        """The active extensions, and how many extensions were ever seen (ended ones too)."""
        query = sa.select(EXTENSIONS).order_by(EXTENSIONS.c.extensionid)
        with self._reading("list extensions") as connection:
            found = connection.execute(query).all()
        active = [
            KnownExtension(row.extensionid, row.did, row.alias, row.startdate, row.enddate)
            for row in found
            if row.active
        ]
        return active, len(found)

    def poll_states(self) -> list[PollState]:
        """Every (extension, stream) poll state; a few rows per number."""
        query = sa.select(POLL_STATE).order_by(POLL_STATE.c.extensionid, POLL_STATE.c.stream)
        with self._reading("read the poll states") as connection:
            return [poll_state_of(row) for row in connection.execute(query)]

    def events_by_kind(self) -> dict[str, int]:
        query = sa.select(EVENTS.c.kind, func.count()).group_by(EVENTS.c.kind)
        with self._reading("count events") as connection:
            return {str(kind): int(count) for kind, count in connection.execute(query)}

    def deliveries_by_state(self) -> dict[str, int]:
        """Every ledger state, zeros included."""
        query = sa.select(DELIVERIES.c.state, func.count()).group_by(DELIVERIES.c.state)
        with self._reading("count deliveries") as connection:
            found = {str(state): int(count) for state, count in connection.execute(query)}
        return {state: found.get(state, 0) for state in DeliveryState}

    def oldest_open_created_at(self) -> int | None:
        """When the oldest pending or retrying delivery was created; None when none is open."""
        query = sa.select(func.min(DELIVERIES.c.created_at)).where(
            DELIVERIES.c.state.in_(OWED_STATES)
        )
        with self._reading("read the oldest open delivery") as connection:
            value = connection.execute(query).scalar_one_or_none()
        return None if value is None else int(value)
