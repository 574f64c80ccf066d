"""Time zones: the host's IANA zone, a configured one, and local hours that DST repeats."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: A local hour as a clock shows it, told apart on a 25-hour day by its UTC offset (minutes).
HourKey = tuple[int, int]


def host_timezone(env: Mapping[str, str] | None = None) -> tzinfo:
    """The host's IANA zone ($TZ, else /etc/localtime's link), so DST is right; else UTC."""
    env = os.environ if env is None else env
    candidates = [env.get("TZ", "").lstrip(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        candidates.append(str(localtime.resolve()).partition("zoneinfo/")[2])
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


def zone(name: str | None, default: tzinfo) -> tzinfo:
    return ZoneInfo(name) if name else default


#: The epoch seconds any time zone can show (years 2 to 9998): a date outside this range in
#: a store written before dates were checked at the edge must not crash what shows it.
_SHOWABLE = (-62_104_060_800, 253_339_228_800)


def local_moment(ts: int, tz: tzinfo) -> datetime:
    """`ts` as a local date and time in `tz`, an impossible `ts` shown as the nearest possible."""
    low, high = _SHOWABLE
    return datetime.fromtimestamp(min(max(ts, low), high), tz)


def hour_key(ts: int, tz: tzinfo) -> HourKey:
    """The local hour `ts` falls in, with its UTC offset so repeated hours stay apart."""
    local = datetime.fromtimestamp(ts, tz)
    offset = local.utcoffset() or timedelta(0)
    return local.hour, int(offset.total_seconds()) // 60
