"""Waiting for a condition by polling it, never by a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cli import DaemonProcess


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
