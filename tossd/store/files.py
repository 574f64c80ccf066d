"""The store's file-system side: private directories, atomic writes, stray temp files."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tossd.errors import StoreError

TEMP_PREFIX = ".tmp-"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# SQLite's companions of a WAL-mode database file.
SQLITE_SIDE_FILES = ("-wal", "-shm")


@contextmanager
def _os_errors(action: str) -> Iterator[None]:
    """OSError becomes StoreError here, the edge where the store meets the file system."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"could not {action}: {exc}") from exc


def audio_filename(event_id: int) -> str:
    """The audio file of one event, relative to the audio directory (`00000042.mp3`)."""
    return f"{event_id:08d}.mp3"


def ensure_private_dir(path: Path, *, tighten_existing: bool = True) -> None:
    """Create `path` (and its parents) 0700; an existing one too unless `tighten_existing`."""
    with _os_errors(f"create the directory {path}"):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            if not path.is_dir():
                raise
            if not tighten_existing:
                return
        # mkdir's mode is filtered by the umask and ignored for an existing directory; a
        # directory someone else owns (say /var/lib set up by root) we leave to its owner.
        if path.stat().st_uid == os.geteuid():
            path.chmod(PRIVATE_DIR)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` (0600) so that a crash leaves the old file or the new, not half.

    The temp file lives in the same directory (os.replace must not cross file systems) and
    starts with `.tmp-`, so `remove_orphan_temps` can sweep what a crash left behind.
    """
    temp = path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}-{path.name}")
    with _os_errors(f"write {path}"):
        # O_EXCL: never follow or reuse a file someone planted under the temp name.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
        try:
            with os.fdopen(fd, "wb") as file:
                os.fchmod(file.fileno(), PRIVATE_FILE)  # exactly 0600, whatever the umask
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        # The rename itself is durable only once the directory entry is on disk.
        _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_orphan_temps(directory: Path) -> int:
    """Delete the temp files interrupted writes left in `directory`; return how many."""
    removed = 0
    with _os_errors(f"clean temp files in {directory}"):
        if not directory.is_dir():
            return 0
        for entry in directory.iterdir():
            if entry.name.startswith(TEMP_PREFIX) and entry.is_file():
                entry.unlink(missing_ok=True)
                removed += 1
    return removed


def make_private(path: Path) -> None:
    """chmod 0600 a database file and its -wal/-shm companions, those that exist."""
    with _os_errors(f"restrict the permissions of {path}"):
        for candidate in (path, *(path.with_name(path.name + s) for s in SQLITE_SIDE_FILES)):
            if candidate.exists():
                candidate.chmod(PRIVATE_FILE)


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists, so it is never readable by others.

    SQLite then gives its -wal and -shm files the database file's mode.
    """
    with _os_errors(f"create {path}"), suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
