"""Alembic migration scripts of the event store (run by `tossd.store.migrate`)."""

from __future__ import annotations
