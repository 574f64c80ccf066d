"""Alembic environment: online only, on the connection that `tossd.store.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from tossd.errors import StoreError
from tossd.store.tables import metadata


def run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            # Foreign keys were off while migrating (see migrate.upgrade): refuse to commit
            # a migration that left dangling references.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise StoreError(f"the migration broke foreign keys: {broken[:5]}")


connection = context.config.attributes.get("connection")
if connection is None:
    raise StoreError("run migrations with tossd.store.migrate.upgrade (no alembic.ini)")
run_migrations(connection)
