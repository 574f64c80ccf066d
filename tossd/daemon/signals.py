"""One stop event for every shutdown path: SIGINT and SIGTERM both set it; SIGHUP reloads."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable


def stop_on_signals() -> asyncio.Event:
    """An event that SIGINT or SIGTERM sets (call from inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def on_hangup(reload: Callable[[], None]) -> None:
    """SIGHUP calls `reload` (from inside the running loop) instead of ending the process."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
