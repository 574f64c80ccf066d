"""What to ask the provider for next, within its request budget (pure decisions).

A voicemail can only follow a call that reached voicemail (`seconds > 0`), so a steady cycle
needs one account-wide query per stream, plus a check of each box a new call made due, plus
a slow sweep that visits every box once per `voicemail_sweep_s` in case one was missed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tossd.domain import EventKind, NewEvent
from tossd.poll.window import FUTURE_SKEW_S
from tossd.store.schedule import BoxDue

#: How long after a call ended its box is still checked for the voicemail it may have left
#: (the provider may list a voicemail a little after its call record, or before it).
VOICEMAIL_WAIT_S = 120
#: The longest a call is taken to last when deciding how long its box stays due: a record
#: claiming a call of years must not keep one box checked for years.
MAX_CALL_S = 86400
#: A box checked at once after its call is checked again this much later (the daemon).
RECHECK_S = 15.0
#: How often a refused account-wide query, or a stream the account lacks, is tried again.
REPROBE_S = 3600.0
#: The share of the budget per-number turns of one stream may take, the sweep likewise.
PER_NUMBER_SHARE = 0.5
SWEEP_SHARE = 0.25


def boxes_due(events: Iterable[NewEvent], now: int) -> list[BoxDue]:
    """One due mark per announced call that something answered (`seconds > 0`).

    Only calls that are new count (the store applies a mark only to a call it inserts), so a
    call seen again in the overlap never keeps its box due.
    """
    due = []
    for event in events:
        seconds = int(event.payload.get("seconds") or 0)
        if event.kind is EventKind.MISSED_CALL or seconds <= 0 or not event.announce:
            continue
        if event.occurred_at > now + FUTURE_SKEW_S:
            continue  # a call dated hours ahead would keep its box due until then
        ended = event.occurred_at + min(seconds, MAX_CALL_S)
        due.append(
            BoxDue(
                identity=event.identity,
                extensionid=event.extensionid,
                call_at=event.occurred_at,
                until=max(ended, now) + VOICEMAIL_WAIT_S,
            )
        )
    return due


def turns(budget_per_s: float | None, interval_s: float, share: float) -> int | None:
    """How many per-number requests one cycle may spend (None: no budget, no limit)."""
    if budget_per_s is None:
        return None
    return max(1, math.floor(budget_per_s * interval_s * share))


def sweep_size(numbers: int, interval_s: float, sweep_s: float, limit: int | None) -> int:
    """Boxes the sweep visits this cycle, so that every box is visited once per `sweep_s`."""
    if numbers <= 0:
        return 0
    wanted = min(numbers, math.ceil(numbers * interval_s / sweep_s))
    return wanted if limit is None else min(wanted, limit)


def stretched_s(numbers: int, per_cycle: int, interval_s: float) -> float:
    """How long a whole round of `numbers` takes at `per_cycle` of them per cycle."""
    return math.ceil(numbers / max(1, per_cycle)) * interval_s


class Reach(StrEnum):
    """How a stream is asked for: one query for the account, one per number, or not at all."""

    ACCOUNT = "account"
    PER_NUMBER = "per_number"
    OFF = "off"


@dataclass
class StreamReach:
    """A stream's reach, and when a refused reach is tried again (every REPROBE_S)."""

    reach: Reach = Reach.ACCOUNT
    since: float = 0.0

    def tries_account(self, now: float) -> bool:
        return self.reach is Reach.ACCOUNT or now - self.since >= REPROBE_S

    def off(self, now: float) -> bool:
        return self.reach is Reach.OFF and now - self.since < REPROBE_S

    def become(self, reach: Reach, now: float) -> bool:
        """Switch to `reach`; True when that is a change (worth one log line)."""
        changed = reach is not self.reach
        # `since` counts only while refused (the re-probe's hour): set it every time.
        self.reach, self.since = reach, now
        return changed
