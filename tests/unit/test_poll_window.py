"""Poll windows, watermarks and what counts as new (tossd.poll.window), as tables."""

from __future__ import annotations

import random

import pytest

from tossd.config.model import PollConfig
from tossd.domain import EventKind, KnownExtension, NewEvent, Stream
from tossd.poll.window import (
    FUTURE_SLACK_S,
    Window,
    announce_from,
    next_watermark,
    poll_window,
)
from tossd.store.records import PollState

NOW = 1_800_000_000
DAY = 86400
STARTED = 1_600_000_000
EXT = KnownExtension(extensionid=7, did="15551230007", alias="", startdate=STARTED, enddate=0)
CONFIG = PollConfig(overlap_s=600, initial_window_s=900)


def state(watermark: int | None, first_polled_at: int | None = STARTED) -> PollState:
    return PollState(
        extensionid=EXT.extensionid,
        stream=Stream.CALLS,
        watermark=watermark,
        last_success_at=first_polled_at,
        last_attempt_at=NOW - 60,
        last_error=None,
        consecutive_failures=0,
        first_polled_at=first_polled_at,
    )


def event(occurred_at: int) -> NewEvent:
    return NewEvent(
        kind=EventKind.CALL,
        extensionid=EXT.extensionid,
        identity=f"call:{occurred_at}",
        occurred_at=occurred_at,
        announce=True,
    )


@pytest.mark.parametrize(
    ("poll_state", "now", "expected"),
    [
        # First sight (no state): only the initial window, which is all it announces; never
        # the whole history.
        (None, NOW, Window(NOW - 900, NOW + DAY, NOW - 900)),
        # A state that never succeeded is still a first sight, and has no watermark yet.
        (state(None, first_polled_at=None), NOW, Window(NOW - 900, NOW + DAY, NOW - 900)),
        # A number started a minute ago: nothing before its start is asked for.
        (None, STARTED + 60, Window(STARTED, STARTED + 60 + DAY, STARTED + 60 - 900)),
        # Polled before but nothing seen yet: from the first poll's window; all announced.
        (state(None, first_polled_at=NOW - DAY), NOW, Window(NOW - DAY - 900, NOW + DAY, 0)),
        # A watermark just inside the first window: the overlap stops at that window's start,
        # so a record from before tossd began watching is never fetched and announced.
        (
            state(NOW - 850, first_polled_at=NOW - 10),
            NOW,
            Window(NOW - 10 - 900, NOW + DAY, 0),
        ),
        # Later polls go back overlap_s before the watermark, to catch late records.
        (state(NOW - 3600), NOW, Window(NOW - 3600 - 600, NOW + DAY, 0)),
        # A watermark at now still overlaps by overlap_s.
        (state(NOW), NOW, Window(NOW - 600, NOW + DAY, 0)),
        # A clock behind the watermark: the end is a day past the watermark, not past now.
        (state(NOW + 7200), NOW, Window(NOW + 7200 - 600, NOW + 7200 + DAY, 0)),
        # A watermark less than the overlap after the number's start: never before its start.
        (state(STARTED + 100), NOW, Window(STARTED, NOW + DAY, 0)),
        # A failed first poll that still recorded a watermark starts from it, yet announces
        # only the initial window, as a first sight.
        (
            state(NOW - 3600, first_polled_at=None),
            NOW,
            Window(NOW - 3600 - 600, NOW + DAY, NOW - 900),
        ),
    ],
)
def test_poll_window(poll_state: PollState | None, now: int, expected: Window) -> None:
    assert poll_window(poll_state, now, CONFIG, opened=EXT.startdate) == expected


@pytest.mark.parametrize(
    ("overlap_s", "initial_window_s", "expected"),
    [
        # No overlap: the window starts exactly at the watermark.
        (0, 900, Window(NOW - 3600, NOW + DAY, 0)),
        # A larger overlap reaches further back; initial_window_s plays no part later on.
        (3000, 60, Window(NOW - 3600 - 3000, NOW + DAY, 0)),
    ],
)
def test_poll_window_follows_the_config(
    overlap_s: int, initial_window_s: int, expected: Window
) -> None:
    config = PollConfig(overlap_s=overlap_s, initial_window_s=initial_window_s)
    assert poll_window(state(NOW - 3600), NOW, config, opened=EXT.startdate) == expected


@pytest.mark.parametrize(
    ("previous", "occurred", "expected"),
    [
        # An empty batch keeps the previous watermark.
        (NOW - 100, [], NOW - 100),
        # An empty batch with no watermark yet keeps none.
        (None, [], None),
        # No previous watermark: the newest event's time.
        (None, [NOW - 50, NOW - 10, NOW - 30], NOW - 10),
        # Newer events move the watermark forward to the newest of them.
        (NOW - 100, [NOW - 90, NOW - 20], NOW - 20),
        # Only older events (late records in the overlap): the watermark never goes back.
        (NOW - 100, [NOW - 500, NOW - 101], NOW - 100),
        # An event exactly at the watermark leaves it where it is.
        (NOW - 100, [NOW - 100], NOW - 100),
    ],
)
def test_next_watermark(previous: int | None, occurred: list[int], expected: int | None) -> None:
    assert next_watermark(previous, [event(t) for t in occurred]) == expected


def test_next_watermark_accepts_a_one_shot_iterable() -> None:
    # The poller hands a generator: it is read once, and the newest still wins.
    assert next_watermark(NOW - 100, (event(t) for t in (NOW - 5, NOW - 50))) == NOW - 5


@pytest.mark.parametrize(
    ("first_sight", "now", "initial_window_s", "expected"),
    [
        # First sight: only the last initial_window_s count as new.
        (True, NOW, 900, NOW - 900),
        # First sight with a zero window: only what happens from now on.
        (True, NOW, 0, NOW),
        # Later: everything is new however old, so downtime skips nothing.
        (False, NOW, 900, 0),
        # Later, whatever the window is.
        (False, NOW, 0, 0),
    ],
)
def test_announce_from(first_sight: bool, now: int, initial_window_s: int, expected: int) -> None:
    assert announce_from(first_sight, now, initial_window_s) == expected


def test_random_windows_always_cover_overlap_to_now() -> None:
    rng = random.Random(20240611)
    for _ in range(2000):
        now = rng.randrange(STARTED, STARTED + 10 * 365 * DAY)
        watermark = rng.choice([None, now + rng.randrange(-30 * DAY, 2 * DAY)])
        first_polled_at = rng.choice([None, STARTED])
        config = PollConfig(
            overlap_s=rng.randrange(0, 7 * DAY), initial_window_s=rng.randrange(0, 7 * DAY)
        )
        poll_state = rng.choice([None, state(watermark, first_polled_at)])
        window = poll_window(poll_state, now, config, opened=EXT.startdate)
        seen = None if poll_state is None else poll_state.watermark
        if seen is None:
            # At least the initial window (or the number's whole life, if shorter).
            assert window.start <= max(EXT.startdate, now - config.initial_window_s)
        else:
            # Nothing of a number happened before its start, nor is anything from before the
            # first poll's window wanted, so the window need not reach further back.
            first = poll_state.first_polled_at if poll_state else None
            floor = EXT.startdate if first is None else first - config.initial_window_s
            assert window.start <= max(EXT.startdate, floor, seen - config.overlap_s)
        latest = now if seen is None else max(now, seen)
        assert window.end >= latest + FUTURE_SLACK_S
        assert window.start <= latest < window.end
        assert window.announce_since <= now
