"""Alembic, driven from code: the migration scripts ship inside the package, no alembic.ini."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Connection

from tossd.errors import StoreError
from tossd.store.engine import create_engine, mask_url, store_errors, writer
from tossd.store.migration_lock import LOCK_TIMEOUT_S, migration_lock

SCRIPT_LOCATION = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection) -> Config:
    """A Config for `alembic.command.*` (upgrade, revision --autogenerate...) on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head", *, lock_timeout_s: float = LOCK_TIMEOUT_S) -> None:
    """Bring the database at `url` to `revision`, in one transaction; a no-op when current.

    Under the migration lock: a second writer starting beside the first waits for its
    migration, then finds the schema current (Alembic reads the revision again inside our
    transaction, after the lock), instead of failing on the first one's locks.
    """
    with migration_lock(url, timeout_s=lock_timeout_s):
        upgrade_locked(url, revision)


def upgrade_locked(url: str, revision: str = "head") -> None:
    """`upgrade` for a caller that holds `migration_lock` already (a test playing the
    migration that other processes wait for)."""
    # A private engine with foreign keys off: batch mode rebuilds SQLite tables by copy, drop
    # and rename, which a referencing foreign key would veto. env.py checks them afterwards,
    # and disposing the engine keeps those connections out of any pool.
    engine = create_engine(url, foreign_keys=False)
    try:
        # engine.begin(): the whole upgrade commits or rolls back as one transaction (Alembic
        # leaves an outer transaction alone; see its cookbook on sharing a connection).
        # writer(): BEGIN IMMEDIATE, so a write committed elsewhere between Alembic's first
        # read and its first write cannot fail the upgrade with SQLITE_BUSY (engine.writer).
        with (
            store_errors(f"migrate the database {mask_url(url)}"),
            writer(engine).begin() as connection,
        ):
            command.upgrade(alembic_config(connection), revision)
    except CommandError as exc:
        raise StoreError(f"could not migrate the database {mask_url(url)}: {exc}") from exc
    finally:
        engine.dispose()


def main() -> None:
    """`python -m tossd.store.migrate` with the URL on stdin (never in argv, where `ps` shows
    a password): what `revision.migrate_in_child` runs. Exit 1 with the reason on stderr."""
    try:
        upgrade(sys.stdin.read().strip())
    except StoreError as exc:
        print(exc.message, file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
