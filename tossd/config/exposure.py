"""Whether the config file exposes the API key it holds to other users of the machine."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path


def exposed_key_warning(path: Path | None) -> dict[str, str] | None:
    """What to warn about when the file at `path` holds `api.key` and its group or others
    may read it (never the key itself); None when there is nothing to say."""
    if path is None:
        return None
    try:
        mode = path.stat().st_mode
        api = tomllib.loads(path.read_text(encoding="utf-8")).get("api")
    except (OSError, ValueError):
        return None
    if not isinstance(api, dict) or "key" not in api:
        # The key from api.key_file, the environment or a credential: the file holds none.
        return None
    readers = [
        who for who, bit in (("group", stat.S_IRGRP), ("others", stat.S_IROTH)) if mode & bit
    ]
    if not readers:
        return None
    return {
        "path": str(path),
        "mode": f"{stat.S_IMODE(mode):04o}",
        "readable_by": " and ".join(readers),
        "fix": f"chmod 600 {path}, or move the key to api.key_file or $TOSSD_API_KEY",
    }
