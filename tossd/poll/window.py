"""Which time window to ask the API for, and which records count as new (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tossd.config.model import PollConfig
from tossd.domain import KnownExtension, NewEvent
from tossd.store.records import PollState

#: How far past "now" a window reaches, for clocks behind the provider's.
FUTURE_SLACK_S = 86400


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


def next_watermark(previous: int | None, events: Iterable[NewEvent]) -> int | None:
    """The newest source timestamp seen so far; never our own clock.

    A quiet extension keeps its watermark, so the next window still starts before anything
    the provider may yet add; an empty window costs one small request, not more.
    """
    newest = max((e.occurred_at for e in events), default=None)
    if newest is None:
        return previous
    return newest if previous is None else max(previous, newest)


def poll_window(
    state: PollState | None, ext: KnownExtension, now: int, config: PollConfig
) -> Window:
    """The time window to ask for, from the stored watermark (pure).

    First sight asks for the extension's whole history. Later polls go back `overlap_s`
    before the newest record seen, to catch records the provider publishes late. The end
    reaches a day past the later of our clock and the watermark: asking for the future costs
    nothing, and a clock behind the provider's (or set back an hour) then delays nothing.
    """
    first_sight = state is None or state.first_polled_at is None
    watermark = state.watermark if state is not None else None
    start = ext.startdate if watermark is None else max(0, watermark - config.overlap_s)
    end = max(now, watermark or 0) + FUTURE_SLACK_S
    return Window(start, end, announce_from(first_sight, now, config.initial_window_s))
