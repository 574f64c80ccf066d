"""Hysteresis for self-alerts: one alert when trouble sets in, one when it is over (pure).

A check that fails now and then must not alert on every flap: trouble is told only after
`after` checks in a row found the same cause, and its end only after `after` clear checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Change(Enum):
    BEGAN = "began"
    ENDED = "ended"


@dataclass
class Trouble:
    """One kind of trouble (the database file, unwritten results), checked again and again."""

    after: int
    cause: str | None = None
    streak: int = 0
    told: str | None = None
    clear: int = 0

    def check(self, cause: str | None) -> Change | None:
        """Feed one check's finding (None: all well); returns the change to tell, if any."""
        if cause is None:
            self.cause, self.streak = None, 0
            if self.told is None:
                return None
            self.clear += 1
            if self.clear < self.after:
                return None
            self.told, self.clear = None, 0
            return Change.ENDED
        self.clear = 0
        self.streak = self.streak + 1 if cause == self.cause else 1
        self.cause = cause
        if self.told is None and self.streak >= self.after:
            self.told = cause
            return Change.BEGAN
        return None
