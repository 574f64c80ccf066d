"""One stop event for every shutdown path: SIGINT and SIGTERM both set it."""

from __future__ import annotations

import asyncio
import signal

import structlog

log = structlog.get_logger(__name__)


def stop_on_signals() -> asyncio.Event:
    """An event that SIGINT or SIGTERM sets (call from inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # SIGHUP's default action ends the process mid-delivery (a closed terminal, a reflexive
    # `systemctl reload`): it is only noted, until a reload replaces this handler.
    loop.add_signal_handler(signal.SIGHUP, _hangup)
    return stop


def _hangup() -> None:
    log.warning("signal.hangup_ignored", advice="restart tossd to apply a changed config")
