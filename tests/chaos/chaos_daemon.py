"""The daemon under test: its config, the process, its log, its database read-only, and the
resource faults (full disks, file size limits) it runs into."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from chaos_traffic import EVENT_TEMPLATE

# -- configuration ------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    return json.dumps(value)


def write_daemon_config(
    path: Path,
    *,
    state_dir: Path,
    api: dict[str, Any],
    routes: Iterable[dict[str, Any]] = (),
    **sections: dict[str, Any],
) -> Path:
    """A tossd.toml with `[[route]]` tables (the shared `write_config` fixture has none)."""
    lines = [f"state_dir = {toml_value(str(state_dir))}", "[api]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in api.items()]
    # debug: the suites count every poll cycle, and idle ones are logged at debug.
    sections.setdefault("log", {"level": "debug", "format": "json"})
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    for route in routes:
        lines.append("[[route]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in route.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- the daemon as a process --------------------------------------------------------------------


class DaemonProcess:
    """`python -m tossd ARGS`, its JSON log written to a file (a pipe would fill up)."""

    def __init__(self, log_path: Path, *args: str, wrapper: tuple[str, ...] = ()) -> None:
        self.log_path = log_path
        self.args = args
        self.wrapper = wrapper
        self.proc: asyncio.subprocess.Process | None = None
        self._records: list[dict[str, Any]] = []
        self._read_to = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        assert self.proc is not None
        return self.proc.returncode

    async def start(self) -> DaemonProcess:
        # The child keeps its own descriptor of the log; ours closes at once.
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *(self.wrapper or (sys.executable,)),
                "-m",
                "tossd",
                *self.args,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        return self

    async def kill(self) -> int:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        return await self.wait(30)

    async def terminate(self, timeout: float) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the process took to end."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.terminate()
        code = await self.wait(timeout)
        return code, time.monotonic() - started

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines so far, parsed once each: the test's loop (which also serves the
        sandbox) must not stall re-reading a long log."""
        if not self.log_path.exists():
            return []
        with self.log_path.open("rb") as log:
            log.seek(self._read_to)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._read_to += len(complete)
        self._records += parse_records(complete.decode(errors="replace"))
        return self._records

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


#: `spawn(log_path, *args, wrapper=())`: a started DaemonProcess, killed at teardown if alive.
Spawn = Callable[..., Awaitable[DaemonProcess]]


def log_records(path: Path) -> list[dict[str, Any]]:
    return parse_records(path.read_text(errors="replace")) if path.exists() else []


def parse_records(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
    alive: DaemonProcess | None = None,
) -> float:
    """Await `condition` (no fixed sleeps); fail naming `what` after `timeout` seconds.

    With `alive`, also fail at once if that daemon exited meanwhile.
    """
    started = time.monotonic()
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if alive is not None and alive.proc is not None and alive.returncode is not None:
            raise AssertionError(
                f"the daemon exited ({alive.returncode}) while waiting for {what}:\n"
                + alive.text()[-3000:]
            )
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


# -- the database, read-only while the daemon runs ----------------------------------------------


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
    rows = db_rows(db, sql, params)
    return int(rows[0][0]) if rows else -1


def integrity(db: Path) -> tuple[str, list[Any]]:
    """SQLite's integrity check and the foreign-key violations (the daemon must be stopped)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        ok = "\n".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
        violations = conn.execute("PRAGMA foreign_key_check").fetchall()
    return ok, violations


OPEN_DELIVERIES = "SELECT count(*) FROM deliveries WHERE state != 'sent'"
UNPLANNED = "SELECT count(*) FROM events WHERE announce AND planned_at IS NULL"
VOICEMAILS_WITHOUT_AUDIO = (
    "SELECT count(*) FROM events e LEFT JOIN audio a ON a.event_id = e.id "
    "WHERE e.kind = 'voicemail' AND e.announce AND a.id IS NULL"
)


def daemon_config(
    tmp_path: Path,
    url: str,
    api_key: str,
    notify: list[str],
    *,
    state_dir: Path | None = None,
    api: dict[str, Any] | None = None,
    poll: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
    route: dict[str, Any] | None = None,
) -> Path:
    """A brisk daemon: polls every 0.5 s, announces everything, one route to `notify`."""
    return write_daemon_config(
        tmp_path / "tossd.toml",
        state_dir=state_dir or tmp_path / "state",
        api={
            "url": url,
            "key": api_key,
            "max_requests_per_s": 1000,
            "timeout_s": 5,
            "retries": 2,
            "backoff_s": 0.05,
            **(api or {}),
        },
        poll={
            "interval_s": 0.5,
            "jitter_s": 0,
            "initial_window_s": 86400,
            "overlap_s": 600,
            **(poll or {}),
        },
        delivery={
            "interval_s": 0.5,
            "backoff_s": 0.5,
            "max_backoff_s": 2,
            "max_attempts": 1000,
            "timeout_s": 10,
            "audio_wait_s": 60,
            **(delivery or {}),
        },
        routes=[
            {
                "name": "all",
                "events": ["call", "voicemail", "sms"],
                "notify": notify,
                "body_template": EVENT_TEMPLATE,
                "timezone": "UTC",
                **(route or {}),
            }
        ],
    )


def remount(path: Path, *options: str) -> None:
    subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(path)], check=True)


def fill(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte; returns the file that holds it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            chunk = b"\0" * size
            with contextlib.suppress(OSError):
                while os.write(fd, chunk):
                    pass
    finally:
        os.close(fd)
    return filler


def limited(max_file_bytes: int) -> tuple[str, ...]:
    """A command prefix that runs `python ARGS` with RLIMIT_FSIZE set (a disk that is "full"
    for any file growing past the limit: writes fail with EFBIG; Python ignores SIGXFSZ)."""
    code = (
        "import os, resource, sys; "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]),) * 2); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
    )
    return (sys.executable, "-c", code, str(max_file_bytes))
