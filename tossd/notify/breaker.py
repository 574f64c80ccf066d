"""A target's circuit breaker (pure): after repeated failures its rows wait, one probe tests it.

Closed: every due row is sent. After `after_failures` failures in a row it opens: rows stay
owed and are not attempted (their attempts are not used up), until the retry policy's step
for the number of trips has passed; then one probe is sent. A success closes it, a failed
probe opens it again for a longer step. A success while open (a send started before it
opened) closes it too: the target answers again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tossd.retry import RetryPolicy


@dataclass(frozen=True)
class Breaker:
    after_failures: int
    policy: RetryPolicy
    failures: int = 0
    trips: int = 0
    open_until: float | None = None
    probing: bool = False

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    def admits(self, now: float) -> bool:
        """Whether a row may be sent now (while open: only one probe, once its time came)."""
        if self.open_until is None:
            return True
        return now >= self.open_until and not self.probing

    def probe(self) -> Breaker:
        """The one send let through while open has started."""
        return replace(self, probing=True)

    def probe_unsent(self) -> Breaker:
        """The probe's row was not sent after all (postponed, folded, claimed by another
        sender): the next due row may probe instead, or the target would wait forever."""
        return replace(self, probing=False)

    def after(self, ok: bool, now: float) -> Breaker:
        """The state after a send's result."""
        if ok:
            return replace(self, failures=0, trips=0, open_until=None, probing=False)
        failures = self.failures + 1
        if self.probing or (not self.is_open and failures >= self.after_failures):
            trips = self.trips + 1
            until = now + self.policy.step(trips)
            return replace(self, failures=failures, trips=trips, open_until=until, probing=False)
        return replace(self, failures=failures)
