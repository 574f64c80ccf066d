"""Per-target lanes: each target's sends are bounded in number and time, behind a breaker.

A target that accepts the connection and never answers costs its own lane's slots until the
deadline, never another target's: no poll and no healthy target waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tossd.notify.breaker import Breaker
from tossd.notify.message import SendResult

#: Sends to one target at once: enough to drain a backlog, too few for a hung peer to hoard.
PER_TARGET_CONCURRENCY = 2
#: Failures in a row that open a target's breaker.
BREAKER_AFTER = 3


class Lane:
    """One target's sends: at most PER_TARGET_CONCURRENCY at once, each within `deadline_s`.

    The send itself runs on a worker thread (Apprise blocks); at the deadline it is
    abandoned, its row recorded as failed, and the thread ends at Apprise's own socket
    timeout. The breaker stops new sends to a target that keeps failing, so abandoned
    threads cannot pile up.
    """

    def __init__(
        self, label: str, breaker: Breaker, deadline_s: float, shared: asyncio.Semaphore
    ) -> None:
        self.label = label
        self.breaker = breaker
        self._deadline_s = deadline_s
        self._own = asyncio.Semaphore(PER_TARGET_CONCURRENCY)
        self._shared = shared
        #: Sends given up at the deadline whose threads have not ended yet.
        self.abandoned = 0

    def admits(self, now: float) -> bool:
        """Whether a new send may start: the breaker lets it, and no more than
        PER_TARGET_CONCURRENCY abandoned sends still hold threads."""
        return self.breaker.admits(now) and self.abandoned < PER_TARGET_CONCURRENCY

    async def send(
        self, work: Callable[[], Awaitable[SendResult | None]], *, probe: bool = False
    ) -> SendResult | None:
        """The send's result, a timeout as a failed result, or None: not sent, because the
        breaker opened while this send waited for a slot, or `work` declined (its claim
        was lost): its row stays owed, untouched."""
        async with self._own, self._shared:
            if self.breaker.is_open and not probe:
                return None
            attempt: asyncio.Future[SendResult | None] = asyncio.ensure_future(work())
            done, _ = await asyncio.wait({attempt}, timeout=self._deadline_s)
            if attempt in done:
                return attempt.result()
            self.abandoned += 1
            attempt.add_done_callback(self._thread_ended)
            return SendResult(
                ok=False, error=f"no answer within {self._deadline_s:g} s (send abandoned)"
            )

    def _thread_ended(self, _attempt: asyncio.Future[SendResult | None]) -> None:
        self.abandoned -= 1

    def record(self, ok: bool, now: float) -> bool | None:
        """Update the breaker; True when it just opened, False when it just closed."""
        before, self.breaker = self.breaker, self.breaker.after(ok, now)
        if before.is_open == self.breaker.is_open:
            return None
        return self.breaker.is_open
