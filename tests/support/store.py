"""The event store on a tmp path, and its database read without the store (plain sqlite3)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from tossd.store.store import Store


def sqlite_url(db: Path) -> str:
    return f"sqlite:///{db}"


def open_store(db: Path, *, audio_dir: Path | None = None) -> Store:
    """`Store.open` on the SQLite file `db`; recordings go to `audio_dir`, else `audio/`
    beside the file (where the daemon keeps them: `state_dir/audio`)."""
    return Store.open(sqlite_url(db), audio_dir=audio_dir or db.parent / "audio")


def db_rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]] | None:
    """Rows of `sql` over a read-only connection; None while the file or schema is not there.

    Read-only sqlite3, never Store.open: opening the store migrates, which takes the write
    lock the running daemon needs.
    """
    if not db.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
            return c.execute(sql, params).fetchall()
    except sqlite3.Error:
        return None


def db_count(db: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    """The first column of the first row of `sql` (a `count(*)`); -1 while unreadable."""
    rows = db_rows(db, sql, params)
    return int(rows[0][0]) if rows else -1


def integrity(db: Path) -> tuple[str, list[Any]]:
    """SQLite's integrity check and the foreign-key violations (the daemon must be stopped)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        ok = "\n".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
        violations = conn.execute("PRAGMA foreign_key_check").fetchall()
    return ok, violations
