"""The tossd-file:// target's writer: one notification becomes files in a folder."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

SCHEME = "tossd-file"

# Notifications for one folder may be written from several Apprise worker threads at once;
# the counter keeps two files stamped in the same microsecond apart.
_counter = itertools.count(1)
_counter_lock = threading.Lock()
_swept: set[Path] = set()
# Apprise's logger by name (this module does not import apprise): Apprise captures what is
# logged there during a send and reports it as that attempt's reason.
_log = logging.getLogger("apprise")


def deliver(
    body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any
) -> bool:
    """The plugin behind tossd-file:// (registered by the Apprise edge): one message in.

    Apprise calls it from a worker thread with the parsed URL in `meta` and its attachment
    objects in `attach`. Problems are logged to Apprise's logger, where Apprise's per-attempt
    capture turns them into the send's error.
    """
    folder = folder_from_url_parts(meta.get("host"), meta.get("fullpath"))
    if folder is None:
        _log.warning("A tossd-file URL needs an absolute folder (three slashes, then the path).")
        return False
    files = [(a.name or f"file{n}", a.path) for n, a in enumerate(kwargs.get("attach") or (), 1)]
    if any(path is None for _, path in files):
        _log.warning("An attachment for the tossd-file folder could not be read.")
        return False
    try:
        write_notification(
            folder, title, body, [(n, Path(p)) for n, p in files], now=datetime.now(UTC)
        )
    except OSError as exc:
        # Only the reason: the folder is part of the URL, which must not reach the logs.
        _log.warning("Could not write to the tossd-file folder: %s.", exc.strerror or "OS error")
        return False
    return True


def folder_from_url_parts(host: str | None, fullpath: str | None) -> Path | None:
    """The folder a parsed `tossd-file:///abs/path` names, or None when it names none.

    Apprise's URL parser reads the first path segment of `tossd-file:///var/lib/x` as the
    host ("var") and the rest as the path ("/lib/x"), so the folder is rebuilt from both;
    the folder is therefore always absolute. The parts arrive still percent-encoded.
    """
    if not host:
        return None
    return Path("/" + unquote(host) + unquote(fullpath or ""))


def safe_name(name: str) -> str:
    """`name` with path separators and leading dots removed, so it stays inside the folder."""
    flat = name.replace("/", "_").replace("\\", "_").replace("\0", "_").lstrip(".")
    return flat or "attachment"


def write_notification(
    folder: Path,
    title: str,
    body: str,
    attachments: Sequence[tuple[str, Path]],
    *,
    now: datetime,
) -> Path:
    """Write `<stamp>-<n>.txt` (title, blank line, body) and `<stamp>-<n>-<name>` copies.

    Attachments are written first and the text file last, so anyone watching the folder for
    `.txt` files finds every attachment already in place. Each file appears atomically.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with _counter_lock:
        number = next(_counter)
        if folder not in _swept:
            # A process killed mid-write (SIGKILL, power loss) leaves its temp file behind;
            # sweep them once per folder and process, before our own writes start.
            _swept.add(folder)
            for leftover in folder.glob(".*.tmp"):
                leftover.unlink(missing_ok=True)
    stem = f"{now.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}-{number:06d}"
    for name, source in attachments:
        target = folder / f"{stem}-{safe_name(name)}"
        _write_atomically(target, partial(shutil.copyfile, source))
    text = folder / f"{stem}.txt"
    content = f"{title}\n\n{body}\n".encode()
    _write_atomically(text, lambda tmp: Path(tmp).write_bytes(content))
    return text


def _write_atomically(target: Path, fill: Callable[[str], object]) -> None:
    # A dot-prefixed temporary name in the same folder: os.replace is atomic only within one
    # file system, and watchers that skip hidden files never see a half-written file.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    os.close(fd)
    try:
        fill(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
