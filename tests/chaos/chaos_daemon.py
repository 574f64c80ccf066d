"""The daemon under test as the chaos suites run it: a brisk config, the queries that say what
it still owes, and the resource faults (full disks, file size limits) it runs into."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chaos_traffic import EVENT_TEMPLATE
from support.config import write_config_file

#: debug: the suites count every poll cycle, and idle ones are logged at debug.
DAEMON_LOG = {"level": "debug", "format": "json"}

OPEN_DELIVERIES = "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'retrying')"
UNPLANNED = "SELECT count(*) FROM events WHERE announce AND planned_at IS NULL"
VOICEMAILS_WITHOUT_AUDIO = (
    "SELECT count(*) FROM events e LEFT JOIN audio a ON a.event_id = e.id "
    "WHERE e.kind = 'voicemail' AND e.announce AND a.id IS NULL"
)


def every_event_route(notify: list[str], **overrides: Any) -> dict[str, Any]:
    """A route announcing every event to `notify`, each body one `EVT|...` line (its key)."""
    return {
        "name": "all",
        "events": ["call", "voicemail", "sms"],
        "notify": notify,
        "body_template": EVENT_TEMPLATE,
        "timezone": "UTC",
        **overrides,
    }


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
    **sections: dict[str, Any],
) -> Path:
    """A brisk daemon: polls every 0.5 s, announces everything, one route to `notify`;
    `sections` adds tables (`store`, `health`)."""
    return write_config_file(
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
        log=DAEMON_LOG,
        routes=[every_event_route(notify, **(route or {}))],
        **sections,
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
