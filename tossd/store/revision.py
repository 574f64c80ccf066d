"""Which schema revision a database is at, read without Alembic (about 10 MiB not loaded).

Alembic is imported only when a database is behind `HEAD_REVISION` (and by the daemon only
in a child process): a daemon, and every command reading a current database, never load it.
"""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa
from sqlalchemy.exc import NoSuchTableError, OperationalError, ProgrammingError

from tossd.errors import StoreError
from tossd.store.engine import create_engine, mask_url, store_errors
from tossd.store.migration_lock import await_migration

#: The newest script in migrations/versions (a test checks it against Alembic's own head).
HEAD_REVISION = "0008"


def current_revision(url: str) -> str | None:
    """The revision recorded in `alembic_version`, or None for an empty (new) database."""
    engine = create_engine(url)
    try:
        # Worded as the migration would be: this is the first step of it.
        action = f"migrate the database {mask_url(url)}"
        with store_errors(action), engine.connect() as connection:
            try:
                table = sa.Table("alembic_version", sa.MetaData(), autoload_with=connection)
            except (NoSuchTableError, OperationalError, ProgrammingError):
                return None
            row = connection.execute(sa.select(table.c.version_num)).first()
            return None if row is None else str(row[0])
    finally:
        engine.dispose()


def settled_revision(url: str) -> str | None:
    """`current_revision` for read-only commands: an outdated revision is read again once a
    migration in progress (a daemon starting beside the command) has ended, so the command
    reads the migrated database instead of refusing it. Waits for nothing otherwise."""
    current = current_revision(url)
    if current is None or current == HEAD_REVISION:
        # None: a new database, empty until a migration commits, and nothing to show.
        return current
    await_migration(url)
    return current_revision(url)


def is_current(url: str) -> bool:
    return current_revision(url) == HEAD_REVISION


def migrate_in_child(url: str) -> None:
    """Run the migration in a child interpreter, so a long-running process never holds
    Alembic and Mako (about 5-10 MiB) for the one minute of its life it needs them."""
    proc = subprocess.run(
        [sys.executable, "-m", "tossd.store.migrate"],
        input=url,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"the migration exited with {proc.returncode}"
        raise StoreError(reason)
