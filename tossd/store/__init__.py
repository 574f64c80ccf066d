"""The event store: the only code that imports sqlalchemy, sqlmodel or alembic."""
