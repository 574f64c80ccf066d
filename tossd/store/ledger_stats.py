"""Read-only facts about the store for health checks and metrics: states, counts, ages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, func

from tossd.domain import KnownExtension
from tossd.errors import StoreError
from tossd.store import rows
from tossd.store.engine import create_engine, sqlite_path, store_errors
from tossd.store.ledger import OPEN_STATES, Ledger
from tossd.store.records import PollState
from tossd.store.scope import Closable
from tossd.store.tables import metadata

EXTENSIONS = metadata.tables["extensions"]
EVENTS = metadata.tables["events"]
DELIVERIES = metadata.tables["deliveries"]
POLL_STATE = metadata.tables["poll_state"]


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
            return [rows.poll_state(row) for row in connection.execute(query)]

    def events_by_kind(self) -> dict[str, int]:
        query = sa.select(EVENTS.c.kind, func.count()).group_by(EVENTS.c.kind)
        with self._reading("count events") as connection:
            return {str(kind): int(count) for kind, count in connection.execute(query)}

    def deliveries_by_state(self) -> dict[str, int]:
        """Every ledger state, zeros included (the ledger's own count)."""
        return Ledger(self._engine).counts()

    def oldest_open_created_at(self) -> int | None:
        """When the oldest pending or retrying delivery was created; None when none is open."""
        query = sa.select(func.min(DELIVERIES.c.created_at)).where(
            DELIVERIES.c.state.in_(OPEN_STATES)
        )
        with self._reading("read the oldest open delivery") as connection:
            value = connection.execute(query).scalar_one_or_none()
        return None if value is None else int(value)
