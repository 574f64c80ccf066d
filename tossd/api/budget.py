"""The request budget: how fast tossd may ask the provider, shared by every caller (pure
asyncio, no HTTP), so the transport and the poller's per-number pacing agree on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]


class RequestBudget:
    """A token bucket shared by every caller: requests at most `rate` per second, never bursts.

    The bucket holds one token: requests start at least `1 / rate` apart, so no second ever
    sees more than `rate` of them, retries included (they acquire like any request). A bucket
    of `rate` tokens would let a client that was quiet send twice its budget in one second,
    which a provider counting per second refuses. Waiters queue on one lock, in order.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._rate = rate
        self._capacity = 1.0
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens < 1.0:
                wait = (1.0 - self._tokens) / self._rate
                await self._sleep(wait)
                # Credit exactly the token we waited for: re-reading the clock could land a
                # hair short in floating point and spin. Extra time is refilled next call.
                self._updated = now + wait
                self._tokens = 1.0
            self._tokens -= 1.0
