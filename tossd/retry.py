"""The one retry rule: exponential backoff with jitter, a cap, and when to give up (pure).

Used by the API transport (a request that failed in transit), the delivery ledger (a
notification a target refused) and the deliverer's clock-jump check, so all three agree on
what "the n-th retry" means.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """The n-th retry waits `base_s * 2**(n-1)` (at most `max_s`), less a random share.

    `jitter` is the random share of that step: 1.0 is "full jitter" (uniform in [0, step],
    which spreads many clients that failed together, AWS's "Exponential Backoff And Jitter");
    0.5 waits between half and all of the step, so a retry never comes much sooner than
    planned. After `max_attempts` failures, or once the work is `max_age_s` old, give up.
    """

    base_s: float
    max_s: float
    max_attempts: int
    max_age_s: float | None = None
    jitter: float = 1.0

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_s <= 0 or self.max_attempts < 1:
            raise ValueError("base_s and max_s must be positive, max_attempts at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter is a share: between 0 and 1")

    def step(self, failures: int) -> float:
        """The full wait after `failures` failures in a row (1 for the first retry)."""
        return float(min(self.max_s, self.base_s * 2 ** max(0, failures - 1)))

    def delay(self, failures: int, rand: float) -> float:
        """The jittered wait after `failures` failures; `rand` is uniform in [0, 1)."""
        return self.step(failures) * (1.0 - self.jitter + self.jitter * rand)

    def gives_up(self, failures: int, age_s: float = 0.0) -> bool:
        """Whether `failures` failures (over `age_s` seconds) are enough to stop trying."""
        too_old = self.max_age_s is not None and age_s >= self.max_age_s
        return failures >= self.max_attempts or too_old

    def due_now(self, failures: int, due_at: float, now: float, slack_s: float) -> bool:
        """Is a retry (after `failures` failures) due at `due_at` to be sent now: its time
        came, or it is further ahead than any retry is scheduled, so the clock was set back
        since (its time was read off a clock that was ahead)."""
        return due_at <= now or due_at - now > self.step(failures) + slack_s

    def next_attempt(self, *, failures: int, created_at: int, now: int, rand: float) -> int | None:
        """When to try again (Unix seconds, at least 1 s from `now`), or None: give up."""
        if self.gives_up(failures, now - created_at):
            return None
        return now + max(1, int(self.delay(failures, rand)))
