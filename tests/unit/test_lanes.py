"""A target's lane (tossd.notify.lanes): what it admits, its deadline, its breaker's moves."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tossd.notify.breaker import Breaker
from tossd.notify.lanes import BREAKER_AFTER, PER_TARGET_CONCURRENCY, Lane
from tossd.notify.message import SendResult
from tossd.retry import RetryPolicy

POLICY = RetryPolicy(base_s=30.0, max_s=3600.0, max_attempts=12, jitter=0.5)
CLOSED = Breaker(BREAKER_AFTER, POLICY)
OPEN = replace(CLOSED, failures=BREAKER_AFTER, trips=1, open_until=1030.0)


def lane(breaker: Breaker = CLOSED, deadline_s: float = 5.0, shared: int = 8) -> Lane:
    return Lane("json://hook", breaker, deadline_s, asyncio.Semaphore(shared))


@pytest.mark.parametrize(
    ("breaker", "abandoned", "now", "admits"),
    [
        (CLOSED, 0, 1000.0, True),  # a healthy target takes sends
        (CLOSED, PER_TARGET_CONCURRENCY - 1, 1000.0, True),  # one straggler still out: fine
        (CLOSED, PER_TARGET_CONCURRENCY, 1000.0, False),  # its slots' worth of stragglers: no more
        (OPEN, 0, 1029.0, False),  # open: its rows wait
        (OPEN, 0, 1030.0, True),  # the probe's time came
        (OPEN.probe(), 0, 1030.0, False),  # the probe is out: nothing else
        (OPEN, PER_TARGET_CONCURRENCY, 1030.0, False),  # not even a probe beside stragglers
    ],
)
async def test_what_a_lane_admits(
    breaker: Breaker, abandoned: int, now: float, admits: bool
) -> None:
    target = lane(breaker)
    target.abandoned = abandoned
    assert target.admits(now) is admits


async def test_a_send_that_never_answers_is_a_failure_at_the_deadline() -> None:
    target = lane(deadline_s=0.05)
    hung: asyncio.Future[SendResult | None] = asyncio.get_running_loop().create_future()

    async def work() -> SendResult | None:
        return await hung

    result = await target.send(work)
    assert result is not None and not result.ok
    assert result.error == "no answer within 0.05 s (send abandoned)"
    assert target.abandoned == 1  # its thread is still out
    hung.set_result(SendResult(ok=True))  # Apprise's own timeout ended it at last
    for _ in range(10):  # the send's task ends, then its callback runs
        await asyncio.sleep(0)
    assert target.abandoned == 0


@pytest.mark.parametrize(
    ("breaker", "probe", "sent"),
    [
        (CLOSED, False, True),  # a plain send
        (OPEN, False, False),  # the breaker opened while it waited for a slot: not sent
        (OPEN, True, True),  # the probe goes though the breaker is open
    ],
)
async def test_an_open_breaker_stops_all_but_the_probe(
    breaker: Breaker, probe: bool, sent: bool
) -> None:
    calls: list[int] = []

    async def work() -> SendResult | None:
        calls.append(1)
        return SendResult(ok=True)

    result = await lane(breaker).send(work, probe=probe)
    assert (result is not None, len(calls)) == (sent, int(sent))


@pytest.mark.parametrize(
    ("shared", "most"),
    [
        (8, PER_TARGET_CONCURRENCY),  # the lane's own limit
        (1, 1),  # the daemon's shared limit ([delivery] concurrency) when it is lower
    ],
)
async def test_no_more_sends_at_once_than_the_limits(shared: int, most: int) -> None:
    target = lane(shared=shared)
    running, peak = 0, 0
    release = asyncio.Event()

    async def work() -> SendResult | None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return SendResult(ok=True)

    sends = [asyncio.ensure_future(target.send(work)) for _ in range(5)]
    while running < most:
        await asyncio.sleep(0)
    for _ in range(10):  # give any extra send every chance to start
        await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*sends)
    assert peak == most


@pytest.mark.parametrize(
    ("results", "moves"),
    [
        ([True, True], [None, None]),  # healthy: no line
        ([False] * BREAKER_AFTER, [None] * (BREAKER_AFTER - 1) + [True]),  # down: one line
        ([False] * (BREAKER_AFTER + 2), [None] * (BREAKER_AFTER - 1) + [True, None, None]),
        ([False] * BREAKER_AFTER + [True], [None] * (BREAKER_AFTER - 1) + [True, False]),  # up
    ],
)
def test_the_breaker_moves_a_lane_reports(results: list[bool], moves: list[bool | None]) -> None:
    target = Lane("json://hook", CLOSED, 5.0, asyncio.Semaphore(8))
    assert [target.record(ok, 1000.0 + n) for n, ok in enumerate(results)] == moves
