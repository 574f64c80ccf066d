"""tossd's JSON log lines, parsed: from a daemon's log file or its captured stderr."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any


def parse_records(text: str, *, strict: bool = False) -> list[dict[str, Any]]:
    """The JSON records among `text`'s lines (those starting with `{`).

    A line cut short (a killed process, a log still being written) is skipped; `strict` makes
    it an error instead, for the whole log of a process that exited by itself.
    """
    out = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        if strict:
            out.append(json.loads(line))
            continue
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def log_records(path: Path) -> list[dict[str, Any]]:
    return parse_records(path.read_text(errors="replace")) if path.exists() else []
