"""Clocks a test controls: set by hand, real until frozen, or two readings a fixed offset apart."""

from __future__ import annotations

import time
from dataclasses import dataclass


class ManualClock:
    """Time that moves only when the test moves it (`clock.now += 60`) or `sleep` is awaited.

    Pass it as a component's `clock`; `sleep` stands in for `asyncio.sleep`, records each wait
    in `slept` and moves the time on by it.
    """

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FreezableClock:
    """Real time until frozen (a sandbox on a frozen clock stops producing activity)."""

    def __init__(self) -> None:
        self.frozen_at: float | None = None

    def __call__(self) -> float:
        return time.time() if self.frozen_at is None else self.frozen_at

    def freeze(self) -> None:
        self.frozen_at = time.time()


@dataclass
class SkewedClock:
    """The provider's time (`provider`, moved by hand, always forward) and the host's, which is
    off by `offset` (a host clock that jumps)."""

    provider: float
    offset: float = 0.0

    def host(self) -> float:
        return self.provider + self.offset
