"""Who polls: one leader among the nodes sharing the store, fenced by a term number.

PostgreSQL: the leader holds a session advisory lock on a dedicated connection of its own
(never from the pool, which may recycle or share a connection: the lock would go with it),
with TCP keepalives, so a leader whose host dies loses the lock within seconds. Each win
bumps `leadership.term`; every poll commit carries the leader's term (`fence`), and a commit
with an older term is refused, so a leader that kept acting after losing the lock (frozen by
SIGSTOP, its connection cut) stores nothing. A frozen leader keeps its session, and so its
lock: a standby that finds the lease not renewed for LEASE_S (on the database's clock) ends
that session with `pg_terminate_backend` and takes over.

SQLite: one daemon per file (`tossd.store.daemon_lock`), which leads from the start; the term
and the lease are kept all the same, so health reads the same rows on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from tossd.errors import LeadershipLost, StoreError
from tossd.store.engine import create_engine, describe_error, with_driver, writer
from tossd.store.tables import metadata

LEADERSHIP = metadata.tables["leadership"]
NODES = metadata.tables["nodes"]
POLL_DUTY = "poll"
#: A lease not renewed for this long (seconds, database clock) belongs to a frozen leader.
LEASE_S = 3.0
#: The leader lock's key: "tossd" + 1 (the migration lock is "tossd").
LEADER_KEY = 0x746F737364 + 1
#: libpq's keepalives: a dead peer is noticed in about 5 + 3 x 1 s, not the kernel's 2 hours.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "connect_timeout": 3,
    # A statement that hangs (a server under a lock storm) must not hold the loop's check.
    "options": "-c statement_timeout=2000",
}


def db_now(engine_or_connection: Engine | Connection) -> sa.ColumnElement[float]:
    """The database's clock in Unix seconds: every node judges the lease by the same one."""
    if engine_or_connection.dialect.name == "sqlite":
        return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)")
    return sa.literal_column("extract(epoch from clock_timestamp())::float8")


def fence(connection: Connection, term: int, now: int) -> None:
    """Inside a poll's transaction: refuse it unless `term` still leads; note the poll.

    One UPDATE both checks and locks the row, so a new leader's term bump waits for this
    transaction to end: it then reads watermarks that include this commit.
    """
    statement = (
        sa.update(LEADERSHIP)
        .where(LEADERSHIP.c.duty == POLL_DUTY, LEADERSHIP.c.term == term)
        .values(polled_at=now)
    )
    if connection.execute(statement).rowcount != 1:
        raise LeadershipLost(f"term {term} no longer leads: a newer leader polls")


class LeaderLock:
    """This node's hold on the poll duty: `acquire` when standing by, `confirm` when leading."""

    def __init__(self, url: str, node: str, *, now: float) -> None:
        self.node = node
        self.term: int | None = None
        self._advisory = url.startswith("postgresql")
        #: Whether other nodes may share the duty (PostgreSQL) or none can (SQLite).
        self.shared = self._advisory
        self._started = int(now)
        if self._advisory:
            self._engine = sa.create_engine(
                with_driver(url), poolclass=NullPool, connect_args=dict(KEEPALIVES)
            )
        else:
            self._engine = create_engine(url)
        self._conn: Connection | None = None

    def acquire(self) -> int | None:
        """Take the duty if free (or its lease ran out): the new term, else None."""
        try:
            if self._advisory and not self._lock():
                return None
            self.term = self._bump()
        except SQLAlchemyError:
            self._drop()
            return None
        return self.term

    def confirm(self) -> bool:
        """Renew the lease; False (and the lock let go) once this node no longer leads."""
        if self.term is None:
            return False
        if not self._advisory:
            return True  # SQLite: no other daemon can take it (daemon_lock); no write needed
        # On PostgreSQL the lease is renewed only while this session still holds the lock.
        held = sa.text(f"EXISTS ({_HOLDS_LOCK})")
        statement = (
            sa.update(LEADERSHIP)
            .where(LEADERSHIP.c.duty == POLL_DUTY, LEADERSHIP.c.term == self.term, held)
            .values(renewed_at=db_now(self._engine))
        )
        try:
            with self._begin() as connection:
                kept = connection.execute(statement, {"key": LEADER_KEY}).rowcount == 1
        except SQLAlchemyError:
            kept = False
        if not kept:
            self.term = None
            self._drop()
        return kept

    def beat(self, now: int) -> None:
        """This node's heartbeat in `nodes` (an upsert: UPDATE, then INSERT if missing)."""
        values = {"heartbeat_at": now, "leading": self.term is not None}
        try:
            with self._begin() as connection:
                found = connection.execute(
                    sa.update(NODES).where(NODES.c.node == self.node).values(**values)
                ).rowcount
                if not found:
                    row = {"node": self.node, "started_at": self._started, **values}
                    connection.execute(sa.insert(NODES), [row])
        except SQLAlchemyError as exc:
            error = f"could not record this node's heartbeat: {describe_error(exc)}"
            raise StoreError(error) from exc

    def silence_s(self) -> float | None:
        """How long ago the leader last committed a poll or took the duty (whichever is
        later), on the database's clock; None before any node ever led."""
        # The later of the last poll and the current term's start: a leader that has just
        # taken over (a restart, a failover) is not silent yet.
        polled, began = LEADERSHIP.c.polled_at, LEADERSHIP.c.since
        since = sa.case((sa.and_(polled.is_not(None), polled > began), polled), else_=began)
        query = sa.select(db_now(self._engine) - since).where(LEADERSHIP.c.duty == POLL_DUTY)
        try:
            with self._begin() as connection:
                found = connection.execute(query).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read the leadership: {describe_error(exc)}") from exc
        return None if found is None else float(found)

    def release(self) -> None:
        """Let the duty go (a clean stop): the standbys take it at their next look."""
        self.term = None
        self._drop()
        self._engine.dispose()

    def _lock(self) -> bool:
        connection = self._connection()
        got = connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_KEY})
        if got.scalar_one():
            return True
        self._end_frozen_leader(connection)
        return False

    def _end_frozen_leader(self, connection: Connection) -> None:
        """End the session of a leader whose lease ran out while it still holds the lock."""
        stale = sa.select(LEADERSHIP.c.session).where(
            LEADERSHIP.c.duty == POLL_DUTY,
            LEADERSHIP.c.renewed_at < db_now(connection) - LEASE_S,
        )
        session = connection.execute(stale).scalar_one_or_none()
        if session is None:
            return
        # Only that session if it still holds our lock: a pid may have been reused.
        ended = sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE pid = :pid AND " + _OUR_LOCK
        )
        connection.execute(ended, {"pid": session, "key": LEADER_KEY})

    def _bump(self) -> int:
        """Start a new term (under the lock on PostgreSQL, BEGIN IMMEDIATE on SQLite)."""
        session = sa.func.pg_backend_pid() if self._advisory else None
        with self._begin() as connection:
            values = {
                "node": self.node,
                "session": session,
                "since": self._now_int(connection),
                "renewed_at": db_now(connection),
            }
            bumped = connection.execute(
                sa.update(LEADERSHIP)
                .where(LEADERSHIP.c.duty == POLL_DUTY)
                .values(term=LEADERSHIP.c.term + 1, **values)
                .returning(LEADERSHIP.c.term)
            ).scalar_one_or_none()
            if bumped is not None:
                return int(bumped)
            connection.execute(sa.insert(LEADERSHIP).values(duty=POLL_DUTY, term=1, **values))
            return 1

    def _now_int(self, connection: Connection) -> int:
        return int(connection.execute(sa.select(db_now(connection))).scalar_one())

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction on the dedicated connection (PostgreSQL: `pg_backend_pid()` is the
        lock's session; no connection opened per check), or on the engine (SQLite, where it
        begins IMMEDIATE)."""
        if not self._advisory:
            with writer(self._engine).begin() as connection:
                yield connection
            return
        connection = self._connection()
        connection.exec_driver_sql("BEGIN")
        try:
            yield connection
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")

    def _drop(self) -> None:
        """Close the dedicated connection: its session ends, and the lock with it."""
        if self._conn is not None:
            # A broken connection may fail to close: ending its session is all we wanted.
            with suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None


_OUR_LOCK = (
    "locktype = 'advisory' AND classid = (:key >> 32)::oid "
    "AND objid = (:key & 4294967295)::oid AND objsubid = 1 AND granted"
)
_HOLDS_LOCK = "SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND " + _OUR_LOCK
