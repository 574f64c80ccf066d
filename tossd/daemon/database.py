"""Opening the event store from the config: kept apart so store-only commands load no more."""

from __future__ import annotations

from tossd.config.model import Config
from tossd.store.engine import BUSY_TIMEOUT_MS
from tossd.store.store import Store

#: The daemon's wait for another process's write lock. Its store calls run on the event loop,
#: so a wait stops health answers, API deadlines and sends alike: a write that cannot have
#: the lock this soon fails (the poll or result is retried; a send's result is held).
LOOP_BUSY_TIMEOUT_MS = 250


def open_store(config: Config, *, long_running: bool = False) -> Store:
    """The store; `long_running` (the daemon) migrates in a child process, so the daemon
    never holds Alembic in memory, and waits for locks only briefly (LOOP_BUSY_TIMEOUT_MS)."""
    return Store.open(
        config.store_url,
        audio_dir=config.state_dir / "audio",
        migrate_in_child=long_running,
        busy_timeout_ms=LOOP_BUSY_TIMEOUT_MS if long_running else BUSY_TIMEOUT_MS,
        # One daemon per SQLite file (tossd.store.daemon_lock); commands run beside it.
        sole_daemon=long_running,
    )


def open_existing_store(config: Config) -> Store | None:
    """For commands that only read (`events`, `outbox` list): see `Store.open_existing`."""
    return Store.open_existing(config.store_url, audio_dir=config.state_dir / "audio")


def upgrade_store(config: Config) -> str:
    """`tossd db upgrade`: create or migrate the database; says which it did."""
    from tossd.store.engine import sqlite_path
    from tossd.store.revision import HEAD_REVISION, current_revision

    url = config.store_url
    db_file = sqlite_path(url)
    # A SQLite file not there yet is new: asking it its revision would create it, unprivate.
    before = None if db_file is not None and not db_file.exists() else current_revision(url)
    open_store(config).close()
    if before is None:
        return f"created the database at schema {HEAD_REVISION}"
    if before == HEAD_REVISION:
        return f"the database is already current (schema {HEAD_REVISION})"
    return f"migrated the database from schema {before} to {HEAD_REVISION}"
