"""Event-loop lag: how late a task's short sleeps wake, the measure of a blocked loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

#: How often the loop is sampled: short enough to catch any block worth a test.
STEP_S = 0.05


@asynccontextmanager
async def loop_lag() -> AsyncIterator[list[float]]:
    """Samples of lateness (seconds) taken while the block runs; `max()` is the longest the
    loop was blocked (within one STEP_S)."""
    samples: list[float] = []

    async def sample() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(STEP_S)
            samples.append(time.monotonic() - before - STEP_S)

    task = asyncio.create_task(sample())
    try:
        yield samples
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
