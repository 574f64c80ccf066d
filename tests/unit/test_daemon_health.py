"""Whether tossd is healthy (tossd.daemon.health.judge), as tables of facts and reasons."""

from __future__ import annotations

import random

import pytest

from tossd.daemon.health import STALE_AFTER_INTERVALS, StreamHealth, judge
from tossd.domain import KnownExtension, Stream
from tossd.store.records import PollState

NOW = 1_800_000_000.0
FRONT = KnownExtension(extensionid=1, did="15550000001", alias="Front", startdate=0, enddate=0)
NO_ALIAS = KnownExtension(extensionid=2, did="15550000002", alias="", startdate=0, enddate=0)
NAMELESS = KnownExtension(extensionid=3, did="", alias="", startdate=0, enddate=0)
CALLS = {"calls": 60.0}
CALLS_AND_SMS = {"calls": 60.0, "sms": 300.0}
NO_NUMBER = "no number known: the extension list was never fetched"


def polled(
    ext: KnownExtension,
    last_success_at: float | None,
    stream: Stream = Stream.CALLS,
    error: str | None = None,
) -> PollState:
    success = None if last_success_at is None else int(last_success_at)
    return PollState(
        extensionid=ext.extensionid,
        stream=stream,
        watermark=None,
        last_success_at=success,
        last_attempt_at=int(NOW) - 5,
        last_error=error,
        consecutive_failures=0 if error is None else 4,
        first_polled_at=success,
    )


@pytest.mark.parametrize(
    ("extensions", "known", "states", "intervals", "started_at", "reasons"),
    [
        # A stream polled a minute ago: healthy.
        ([FRONT], 1, [polled(FRONT, NOW - 60)], CALLS, None, []),
        # Exactly three intervals ago is still on time.
        ([FRONT], 1, [polled(FRONT, NOW - 180)], CALLS, None, []),
        # A second more and it is stale.
        (
            [FRONT],
            1,
            [polled(FRONT, NOW - 181)],
            CALLS,
            None,
            ["calls of Front (1): last success 181s ago"],
        ),
        # A stale stream names the last error it met.
        (
            [FRONT],
            1,
            [polled(FRONT, NOW - 900, error="ApiUnavailable: timed out")],
            CALLS,
            None,
            ["calls of Front (1): last success 900s ago: ApiUnavailable: timed out"],
        ),
        # Never polled and no start known: unhealthy at once.
        ([FRONT], 1, [], CALLS, None, ["calls of Front (1): never polled successfully"]),
        # A stream that only ever failed says why.
        (
            [FRONT],
            1,
            [polled(FRONT, None, error="ApiRefused: bad request")],
            CALLS,
            None,
            ["calls of Front (1): never polled successfully: ApiRefused: bad request"],
        ),
        # Just started: never polled yet, but within the grace of three intervals.
        ([FRONT], 1, [], CALLS, NOW - 180, []),
        # Started longer ago than the grace and still never polled: unhealthy.
        (
            [FRONT],
            1,
            [],
            CALLS,
            NOW - 181,
            ["calls of Front (1): never polled successfully"],
        ),
        # A restart after downtime: the old success is stale, the start grants the grace.
        ([FRONT], 1, [polled(FRONT, NOW - 10_000)], CALLS, NOW - 60, []),
        # The restart's grace is over too: the age of the last success is told.
        (
            [FRONT],
            1,
            [polled(FRONT, NOW - 10_000)],
            CALLS,
            NOW - 200,
            ["calls of Front (1): last success 10000s ago"],
        ),
        # A success after the start counts from the success.
        ([FRONT], 1, [polled(FRONT, NOW - 100)], CALLS, NOW - 1000, []),
        # A number without alias is named by its DID, one without either by its id.
        (
            [NO_ALIAS, NAMELESS],
            2,
            [],
            CALLS,
            None,
            [
                "calls of 15550000002 (2): never polled successfully",
                "calls of 3 (3): never polled successfully",
            ],
        ),
        # Each stream has its own interval: sms every 300 s may be 900 s old, calls not 200 s.
        (
            [FRONT],
            1,
            [polled(FRONT, NOW - 200), polled(FRONT, NOW - 900, Stream.SMS)],
            CALLS_AND_SMS,
            None,
            ["calls of Front (1): last success 200s ago"],
        ),
        # A configured stream with no state of its own is judged on its own: never polled.
        (
            [FRONT],
            1,
            [polled(FRONT, NOW - 10)],
            CALLS_AND_SMS,
            None,
            ["sms of Front (1): never polled successfully"],
        ),
        # A stream that is not configured (any more) is not judged.
        ([FRONT], 1, [polled(FRONT, NOW - 10), polled(FRONT, 0, Stream.SMS)], CALLS, None, []),
        # One number's success does not stand in for another's.
        (
            [FRONT, NO_ALIAS],
            2,
            [polled(FRONT, NOW - 10)],
            CALLS,
            None,
            ["calls of 15550000002 (2): never polled successfully"],
        ),
        # No number known and no start: the extension list was never fetched.
        ([], 0, [], CALLS, None, [NO_NUMBER]),
        # No number known, but within the grace after a start: healthy for now.
        ([], 0, [], CALLS, NOW - 180, []),
        # No number known after the grace: unhealthy.
        ([], 0, [], CALLS, NOW - 181, [NO_NUMBER]),
        # The grace for the extension list is that of the shortest interval (calls, 60 s).
        ([], 0, [], CALLS_AND_SMS, NOW - 200, [NO_NUMBER]),
        # Numbers known but none active (all ended): nothing to judge, healthy.
        ([], 3, [], CALLS, None, []),
    ],
)
def test_judge(
    extensions: list[KnownExtension],
    known: int,
    states: list[PollState],
    intervals: dict[str, float],
    started_at: float | None,
    reasons: list[str],
) -> None:
    report = judge(extensions, known, states, intervals, NOW, started_at)
    assert (report.ok, list(report.reasons)) == (not reasons, reasons)


def test_judge_tells_each_stream_and_its_deadline() -> None:
    states = [polled(FRONT, NOW - 100, error=None), polled(FRONT, NOW - 1000, Stream.SMS, "boom")]
    report = judge([FRONT], 1, states, CALLS_AND_SMS, NOW, NOW - 50)
    assert report.streams == (
        # The deadline counts from the start, later than the last success.
        StreamHealth(1, "Front", "calls", int(NOW - 100), NOW - 50 + 180, None, True),
        # sms: 900 s of grace from the start.
        StreamHealth(1, "Front", "sms", int(NOW - 1000), NOW - 50 + 900, "boom", True),
    )
    assert report.ok
    assert report.checked_at == NOW


def test_random_facts_are_healthy_exactly_when_every_stream_is_on_time() -> None:
    rng = random.Random(31337)
    pool = [
        KnownExtension(extensionid=n, did=f"1555000{n:04d}", alias="", startdate=0, enddate=0)
        for n in range(1, 6)
    ]
    verdicts: set[bool] = set()
    for _ in range(1500):
        extensions = rng.sample(pool, rng.randrange(1, 4))
        streams = rng.sample(list(Stream), rng.randrange(1, 4))
        intervals = {s.value: float(rng.choice((15, 60, 300, 3600))) for s in streams}
        started_at = rng.choice([None, NOW - rng.randrange(0, 4 * 3600)])
        states: list[PollState] = []
        expected_ok = True
        for ext in extensions:
            for stream in streams:
                last = rng.choice([None, None, NOW - rng.randrange(0, 4 * 3600)])
                if rng.random() < 0.8:
                    states.append(polled(ext, last, stream))
                else:
                    last = None
                since = [t for t in (last, started_at) if t is not None]
                limit = STALE_AFTER_INTERVALS * intervals[stream.value]
                expected_ok = expected_ok and bool(since) and NOW - max(since) <= limit
        rng.shuffle(states)
        report = judge(extensions, len(extensions), states, intervals, NOW, started_at)
        assert report.ok is expected_ok
        assert len(report.streams) == len(extensions) * len(streams)
        assert len(report.reasons) == sum(not s.healthy for s in report.streams)
        verdicts.add(report.ok)
    # Both verdicts were reached.
    assert verdicts == {True, False}
