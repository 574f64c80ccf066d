"""The database file under a running daemon: still there, still the one opened, writable.

SQLite keeps writing to a database file deleted under it (the open descriptors keep the
inode), so nothing fails: everything recorded from then on is lost at the next restart, which
announces the last `initial_window_s` again. Only looking at the path tells.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine

from tossd.errors import StoreError
from tossd.store.engine import store_errors


class StoreFile:
    """The file as it was when the store opened it (device and inode)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._opened = _identity(path)

    @classmethod
    def of(cls, engine: Engine) -> StoreFile | None:
        """For an engine on a SQLite file; None for other databases (their server watches)."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return None
        return cls(Path(database))

    def trouble(self) -> str | None:
        """Why the daemon's writes no longer reach a file on disk that it can write, or None."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return f"the database file {self.path} was deleted (what tossd records is lost)"
        except OSError as exc:
            return f"the database file {self.path} cannot be examined: {exc.strerror}"
        if self._opened not in (None, (stat.st_dev, stat.st_ino)):
            return f"the database file {self.path} was replaced by another file"
        if not all(os.access(p, os.W_OK) for p in (self.path, self.path.parent)):
            return f"the database file {self.path} is read-only"
        try:
            read_only = bool(os.statvfs(self.path.parent).f_flag & os.ST_RDONLY)
        except OSError as exc:
            return f"the file system of {self.path} cannot be examined: {exc.strerror}"
        return f"the database file {self.path} is on a read-only file system" if read_only else None


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of `path`; None when it was missing at open (a test store)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def integrity_check(engine: Engine) -> str:
    """SQLite's own check of the database file: "ok" when sound."""
    if engine.dialect.name != "sqlite":
        raise StoreError(f"integrity_check is SQLite only, not {engine.dialect.name}")
    with store_errors("check the database"), engine.connect() as connection:
        lines = connection.exec_driver_sql("PRAGMA integrity_check").scalars()
        return "\n".join(str(line) for line in lines)
