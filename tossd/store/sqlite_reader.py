"""Read-only SQL on a SQLite file with the standard library: `tossd health` runs every minute
in a container, and SQLAlchemy alone costs it about half a second of CPU to import."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tossd.errors import StoreError

Rows = list[tuple[Any, ...]]


def sqlite_file(url: str) -> Path | None:
    """The database file of a `sqlite[+driver]:///path` URL, read as SQLAlchemy reads it
    (`sqlite:////abs` is absolute); None for in-memory and `file:` URIs and other backends."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] != "sqlite":
        return None
    location = rest.split("?", 1)[0]
    if not location:  # sqlite:// is an in-memory database
        return None
    if not location.startswith("/"):
        raise StoreError("invalid database URL: SQLite URLs have no host (sqlite:///path)")
    database = unquote(location[1:])
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


class SqliteReader:
    """Each read its own connection, opened read-only: never creates, never writes, and holds
    no lock between two reads of a long-running daemon's database."""

    def __init__(self, path: Path) -> None:
        self._uri = f"{path.resolve().as_uri()}?mode=ro"
        self._where = str(path)

    def rows(self, action: str, sql: str) -> Rows:
        with self._connected(action) as connection:
            return [tuple(row) for row in connection.execute(sql)]

    @contextmanager
    def _connected(self, action: str) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self._uri, uri=True, timeout=5.0)) as connection:
                yield connection
        except sqlite3.Error as exc:
            raise StoreError(f"could not {action} in {self._where}: {exc}") from exc

    def close(self) -> None:
        """Nothing stays open between reads."""
