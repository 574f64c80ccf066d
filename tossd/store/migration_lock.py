"""The migration lock: one process migrates a database at a time, the others wait for it.

Two writers starting together on a new or outdated database (`tossd run` beside
`tossd outbox retry`, two daemons) would otherwise both run the upgrade, and the loser fails
with "database is locked" (SQLite) or a duplicate table (PostgreSQL). The lock lives beside
the database, so it holds across processes and machines that share it:

- SQLite: `fcntl.flock` on `<database file>.migrate-lock`, a file that stays (deleting a
  lock file lets a third process lock a new one while the second still holds the old).
- PostgreSQL: a session-level advisory lock on a fixed key, scoped to the database.
- In-memory SQLite and other backends: nothing to share, or no lock we know, so none.

Writers take it exclusive (`migration_lock`); read-only commands take it shared for a moment
(`await_migration`), to wait out a migration in progress without blocking one another.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from tossd.errors import StoreError
from tossd.store.engine import create_engine, mask_url, sqlite_path, store_errors
from tossd.store.files import PRIVATE_FILE

#: Generous: a migration rebuilds tables by copy on SQLite, which takes a while on a big one.
LOCK_TIMEOUT_S = 60.0
#: How often a waiting process tries the lock again.
RETRY_S = 0.05
#: The advisory lock's key: "tossd" in ASCII, so `pg_locks` shows whose it is.
ADVISORY_KEY = 0x746F737364
LOCK_SUFFIX = ".migrate-lock"


def lock_file(db_file: Path) -> Path:
    """The SQLite database's migration lock file, beside it."""
    return db_file.with_name(db_file.name + LOCK_SUFFIX)


@contextmanager
def migration_lock(url: str, *, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the database's migration lock exclusively; StoreError after `timeout_s`."""
    action = f"migrate the database {mask_url(url)}"
    with _locked(url, action, exclusive=True, timeout_s=timeout_s):
        yield


def await_migration(url: str, *, timeout_s: float = LOCK_TIMEOUT_S) -> None:
    """Return once no migration of the database is in progress (at once when none is).

    Never creates anything: without a lock file no migration has begun on SQLite.
    """
    action = f"read the database {mask_url(url)}"
    with _locked(url, action, exclusive=False, timeout_s=timeout_s):
        pass


@contextmanager
def _locked(url: str, action: str, *, exclusive: bool, timeout_s: float) -> Iterator[None]:
    """`action` ("migrate the database X") words the errors; X is the URL, masked."""
    db_file = sqlite_path(url)
    if db_file is not None:
        with _file_lock(lock_file(db_file), action, exclusive, timeout_s):
            yield
    elif url.startswith("postgresql"):
        with _advisory_lock(url, action, exclusive, timeout_s):
            yield
    else:
        yield


def _timed_out(action: str, timeout_s: float, lock: str) -> StoreError:
    return StoreError(
        f"could not {action}: another process has held its migration lock ({lock}) "
        f"for {timeout_s:g} s; is a migration stuck?"
    )


@contextmanager
def _file_lock(path: Path, action: str, exclusive: bool, timeout_s: float) -> Iterator[None]:
    # Readers never create the file (nor anything): without it, no migration has begun.
    flags = os.O_RDWR | os.O_CREAT if exclusive else os.O_RDONLY
    try:
        fd = os.open(path, flags | os.O_CLOEXEC, PRIVATE_FILE)
    except FileNotFoundError:
        yield
        return
    except OSError as exc:
        raise StoreError(f"could not {action}: its migration lock {path}: {exc}") from exc
    try:
        operation = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + timeout_s
        # flock has no timeout of its own; a blocking one could wait forever.
        while True:
            try:
                fcntl.flock(fd, operation)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _timed_out(action, timeout_s, f"flock on {path}") from None
                time.sleep(RETRY_S)
        yield  # closing the descriptor releases the lock, also when the process dies
    finally:
        os.close(fd)


@contextmanager
def _advisory_lock(url: str, action: str, exclusive: bool, timeout_s: float) -> Iterator[None]:
    kind = "" if exclusive else "_shared"
    # A connection of its own, in autocommit: no transaction stays open while we wait, and
    # the migration's transaction is not ours to commit. The lock belongs to the session;
    # disposing the engine closes it, which releases the lock if the unlock did not run.
    engine = create_engine(url)
    try:
        with store_errors(action), engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            deadline = time.monotonic() + timeout_s
            # pg_try_ and a deadline rather than pg_advisory_lock under lock_timeout: the same
            # bounded wait as on SQLite, whatever the server's settings.
            try_lock = sa.text(f"SELECT pg_try_advisory_lock{kind}(:key)")
            while not conn.execute(try_lock, {"key": ADVISORY_KEY}).scalar_one():
                if time.monotonic() >= deadline:
                    raise _timed_out(action, timeout_s, f"pg_advisory_lock({ADVISORY_KEY})")
                time.sleep(RETRY_S)
            try:
                yield
            finally:
                unlock = sa.text(f"SELECT pg_advisory_unlock{kind}(:key)")
                conn.execute(unlock, {"key": ADVISORY_KEY})
    finally:
        engine.dispose()
