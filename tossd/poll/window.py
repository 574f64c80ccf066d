"""Which time window to ask the API for, and which records count as new (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tossd.config.model import PollConfig
from tossd.domain import NewEvent
from tossd.store.records import PollState

#: How far past "now" a window reaches, for clocks behind the provider's.
FUTURE_SLACK_S = 86400
#: How far past our clock a record's time may be and still move a watermark: the provider's
#: clock may run a little ahead, but a record from hours ahead would make the next window
#: start there and skip every real record until then.
FUTURE_SKEW_S = 600
#: How far before its number began a record may be and still move a watermark.
BEFORE_START_S = 86400


class Dated(Protocol):
    """A record with a number and a time (an event fetched, or one just stored)."""

    @property
    def extensionid(self) -> int: ...

    @property
    def occurred_at(self) -> int: ...


D = TypeVar("D", bound=Dated)


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    announce_since: int


def announce_from(first_sight: bool, now: int, initial_window_s: int) -> int:
    """The oldest timestamp that still counts as new.

    At the first sight of an extension only the last `initial_window_s` are announced, so a
    fresh install does not flood; afterwards everything is new, however old, so nothing that
    happened while tossd was down is skipped.
    """
    return now - initial_window_s if first_sight else 0


def plausible(event: Dated, now: int, opened: Mapping[int, int]) -> bool:
    """Whether `event`'s time may move a watermark: within [its number's start - a day,
    now + a small skew]. Other records are stored all the same; only the windows ignore them.
    `opened`: each number's startdate by extension id (unknown numbers: no lower bound)."""
    start = opened.get(event.extensionid, 0)
    return start - BEFORE_START_S <= event.occurred_at <= now + FUTURE_SKEW_S


def implausible(events: Iterable[D], now: int, opened: Mapping[int, int]) -> list[D]:
    return [e for e in events if not plausible(e, now, opened)]


def next_watermark(
    previous: int | None,
    events: Iterable[NewEvent],
    *,
    now: int,
    opened: Mapping[int, int] | None = None,
) -> int | None:
    """The newest plausible source timestamp seen so far; never our own clock.

    A quiet extension keeps its watermark, so the next window still starts before anything
    the provider may yet add; an empty window costs one small request, not more. A record
    dated in the future (or long before its number began) never moves it.
    """
    starts = opened or {}
    newest = max(
        (e.occurred_at for e in events if plausible(e, now, starts)),
        default=None,
    )
    if newest is None:
        return previous
    return newest if previous is None else max(previous, newest)


def poll_window(
    state: PollState | None, now: int, config: PollConfig, *, opened: int = 0
) -> Window:
    """The time window to ask for, from the stored watermark (pure).

    `opened` is when the number began (its startdate), 0 for the whole account. A first sight
    asks only for the last `initial_window_s`, never the whole history: those are all it
    would announce. Later polls go back `overlap_s` before the newest record seen, to catch
    records published late, but never before the first poll's window (or, with nothing seen
    yet, start there). The end
    reaches a day past the later of our clock and the watermark: asking for the future costs
    nothing, and a clock behind the provider's (or set back an hour) then delays nothing.
    """
    first_sight = state is None or state.first_polled_at is None
    watermark = state.watermark if state is not None else None
    # Never before the first poll's window: older records were history when tossd began
    # watching, and once past the first sight everything fetched is announced.
    floor = (
        opened
        if state is None or state.first_polled_at is None
        else max(opened, state.first_polled_at - config.initial_window_s)
    )
    if watermark is not None:
        start = watermark - config.overlap_s
    elif first_sight:
        start = now - config.initial_window_s
    else:
        start = floor
    end = max(now, watermark or 0) + FUTURE_SLACK_S
    announce_since = announce_from(first_sight, now, config.initial_window_s)
    return Window(max(0, floor, start), end, announce_since)
