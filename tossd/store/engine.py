"""SQLAlchemy engines for the store: SQLite PRAGMAs and transaction control, URL handling."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from tossd.errors import StoreCorrupt, StoreError
from tossd.store.sqlite_reader import sqlite_file

#: SQLite's primary result codes for a damaged file: SQLITE_CORRUPT and SQLITE_NOTADB.
CORRUPT_CODES = frozenset({11, 26})
#: SQLITE_BUSY and SQLITE_LOCKED: another connection holds the lock we waited for.
BUSY_CODES = frozenset({5, 6})
#: How long a command waits for another process's write lock before "database is locked".
BUSY_TIMEOUT_MS = 5000
# Execution option naming the statement our `begin` listener emits on SQLite.
BEGIN_OPTION = "tossd_sqlite_begin"


def create_engine(
    url: str, *, foreign_keys: bool = True, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite gets WAL, a busy timeout and real transactions.

    `foreign_keys=False` is for migrations only (see `tossd.store.migrate`). The daemon,
    whose store calls run on its event loop, passes a short `busy_timeout_ms`: a call waiting
    for a lock stops everything else (health, API timeouts) for that long.
    """
    try:
        engine = sqlalchemy.create_engine(with_driver(url))
    except ImportError as exc:
        raise StoreError(missing_driver(url, exc)) from exc
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"invalid database URL {mask_url(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, foreign_keys=foreign_keys, busy_timeout_ms=busy_timeout_ms)
    return engine


def with_driver(url: str) -> str:
    """`postgresql://` means psycopg 3 (the `tossd[postgres]` extra), not SQLAlchemy's
    default psycopg2, which tossd neither declares nor tests."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def missing_driver(url: str, exc: ImportError) -> str:
    """Says which extra brings the driver: the bare `No module named 'psycopg'` does not."""
    if url.startswith("postgresql"):
        return (
            f"the database URL {mask_url(url)} needs the PostgreSQL driver psycopg 3, which is "
            f"not installed ({exc}): pip install 'tossd[postgres]'"
        )
    return f"the database URL {mask_url(url)} needs a driver that is not installed: {exc}"


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions take SQLite's write lock up front.

    A deferred transaction that reads, then writes, fails at once with SQLITE_BUSY (the busy
    timeout does not apply) if another connection committed in between; BEGIN IMMEDIATE
    waits for the lock instead. Other databases ignore the option.
    """
    return engine.execution_options(**{BEGIN_OPTION: "BEGIN IMMEDIATE"})


def _configure_sqlite(engine: Engine, *, foreign_keys: bool, busy_timeout_ms: int) -> None:
    def on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # pysqlite's legacy transaction control skips BEGIN before SELECT and DDL, so reads
        # are not repeatable and migrations are not atomic; SQLAlchemy's docs (SQLite,
        # "Enabling Non-Legacy SQLite Transactional Modes") recommend switching it off
        # and emitting BEGIN from the `begin` event instead. Works on Python 3.11 and later.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # Another process holding the write lock (the CLI, `tossd db upgrade`) makes us
            # wait (5 s; the daemon far less) instead of failing at once with "database is
            # locked". First: switching a new database to WAL below takes a lock too.
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            # WAL: readers (`tossd events`, reports) never block the poller's writes, nor
            # the writes the readers.
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL is safe with WAL: a power loss may roll back the last transactions but
            # never corrupts the database, and commits skip an fsync each.
            cursor.execute("PRAGMA synchronous=NORMAL")
            # SQLite ignores FOREIGN KEY clauses unless each connection asks: an audio row
            # must point at a real event. Off only while migrating (batch mode copies tables).
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    gate = WriteGate()

    def on_begin(connection: Connection) -> None:
        # Our own BEGIN (see on_connect); pysqlite still emits COMMIT and ROLLBACK.
        statement = connection.get_execution_options().get(BEGIN_OPTION, "BEGIN")
        if statement == "BEGIN":
            connection.exec_driver_sql(statement)
            return
        gate.check(statement)
        try:
            connection.exec_driver_sql(statement)
        except OperationalError as exc:
            gate.after(exc)
            raise

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)


class WriteGate:
    """Once a write waited its whole busy timeout in vain, writes fail at once for CLOSED_S.

    Another process holding the write lock for long (a `BEGIN EXCLUSIVE`, a backup) would
    otherwise cost every write a full busy timeout, one after another: a daemon whose writes
    run on its event loop would stand still. So the loop waits at most one busy timeout per
    CLOSED_S, and each write refused meanwhile fails as a locked write does (and is retried
    as one: the poll next cycle, a send's result held).
    """

    CLOSED_S = 1.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._closed_until = 0.0

    def check(self, statement: str) -> None:
        if self._clock() < self._closed_until:
            locked = sqlite3.OperationalError("database is locked (by another process)")
            raise OperationalError(statement, None, locked)

    def after(self, exc: OperationalError) -> None:
        code = getattr(exc.orig, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in BUSY_CODES:
            self._closed_until = self._clock() + self.CLOSED_S


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for in-memory databases and other backends."""
    if not is_sqlite(url):
        return None
    try:
        make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {mask_url(url)}") from exc
    return sqlite_file(url)


def mask_url(url: str) -> str:
    """The URL fit for messages and logs: the password replaced by `***`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Unparseable: we cannot tell where a password would be, so show nothing of it.
        return "<unparseable URL>"


def describe_error(exc: SQLAlchemyError) -> str:
    """The driver's own words, without the SQL and parameters SQLAlchemy appends (payloads)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {exc.orig}"
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


@contextmanager
def store_errors(action: str) -> Iterator[None]:
    """The one translation of SQLAlchemy's errors: `StoreError("could not <action>: ...")`."""
    try:
        yield
    except SQLAlchemyError as exc:
        error = StoreCorrupt if is_corrupt(exc) else StoreError
        raise error(f"could not {action}: {describe_error(exc)}") from exc


def is_corrupt(exc: SQLAlchemyError) -> bool:
    """SQLite said the file is damaged: no retry and no restart will help."""
    code = getattr(exc.orig, "sqlite_errorcode", None) if isinstance(exc, DBAPIError) else None
    return isinstance(code, int) and code & 0xFF in CORRUPT_CODES


class EngineReader:
    """Plain read-only SQL on an engine, for `StoreFacts` (`owned`: disposed of with it)."""

    def __init__(self, engine: Engine, *, owned: bool) -> None:
        self._engine = engine
        self._owned = owned

    def rows(self, action: str, sql: str) -> list[tuple[Any, ...]]:
        where = self._engine.url.render_as_string(hide_password=True)
        with store_errors(f"{action} in {where}"), self._engine.begin() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(sql)]

    def close(self) -> None:
        if self._owned:
            self._engine.dispose()
