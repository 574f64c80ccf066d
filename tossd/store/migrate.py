"""Alembic, driven from code: the migration scripts ship inside the package, no alembic.ini."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Connection

from tossd.errors import StoreError
from tossd.store.engine import create_engine, mask_url, store_errors

SCRIPT_LOCATION = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection) -> Config:
    """A Config for `alembic.command.*` (upgrade, revision --autogenerate...) on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`, in one transaction; a no-op when current."""
    # A private engine with foreign keys off: batch mode rebuilds SQLite tables by copy, drop
    # and rename, which a referencing foreign key would veto. env.py checks them afterwards,
    # and disposing the engine keeps those connections out of any pool.
    engine = create_engine(url, foreign_keys=False)
    try:
        # engine.begin(): the whole upgrade commits or rolls back as one transaction (Alembic
        # leaves an outer transaction alone; see its cookbook on sharing a connection).
        with store_errors(f"migrate the database {mask_url(url)}"), engine.begin() as connection:
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
