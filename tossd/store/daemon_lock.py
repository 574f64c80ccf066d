"""One daemon per SQLite database: a second `tossd run` on the same file is refused at start.

SQLite cannot be shared across machines, and two daemons on one host would both poll every
number (twice the provider's requests) and race each other's watermarks. A lock file beside
the database, held with `flock` for the daemon's life, says whether one runs already; the
kernel frees it when the holder exits, however it exits. Commands (`tossd events`,
`tossd outbox retry`) never take it: they run beside the daemon by design.
PostgreSQL needs none: its daemons elect one poller among them (`tossd.store.lease`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tossd.errors import StoreError
from tossd.store.files import PRIVATE_FILE

LOCK_SUFFIX = ".daemon-lock"


class DaemonLock:
    """Held from `acquire` until `release` (or the process's end)."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, db_file: Path) -> DaemonLock:
        """The lock beside `db_file`; StoreError naming the running daemon when it is held."""
        path = db_file.with_name(db_file.name + LOCK_SUFFIX)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StoreError(f"could not open the daemon lock {path}: {reason}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise StoreError(
                f"another tossd daemon{who} is running on the database {db_file}: a SQLite "
                "store serves one daemon; stop the other one, or share a PostgreSQL store "
                "between several (README: High availability)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing frees the flock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    """The holder's pid as it wrote it: for the message only, never trusted further."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
