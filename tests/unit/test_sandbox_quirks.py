"""The sandbox's provider quirks: account-wide refusals, no SMS, late listing, a rate limit."""

from __future__ import annotations

from typing import Any

import pytest
from support import sandbox
from support.clock import ManualClock

from tossd.sandbox.quirks import NO_SMS_MESSAGE, RequestMeter
from tossd.sandbox.world import MethodError, World

NOW = 1_764_000_000
WINDOW = {"startdate": NOW - 3600, "enddate": NOW + 3600}


@pytest.fixture
def world() -> World:
    world = World.generate(5, NOW - 7200, extensions=3, history_days=0, activity_every=1e9)
    return world


def first_id(world: World) -> int:
    return min(world.extensions)


def refusal(world: World, method: str, now: int = NOW, **params: Any) -> str:
    with pytest.raises(MethodError) as caught:
        sandbox.ask(world, method, now, **params)
    return str(caught.value)


def test_account_wide_calls_can_be_refused(world: World) -> None:
    world.add_call(extensionid=first_id(world), startdate=NOW - 60, callernum="+15550001")
    assert len(sandbox.ask(world, "callRecords", NOW, **WINDOW)) == 1
    world.quirks.account_wide_calls = False
    message = refusal(world, "callRecords", **WINDOW)
    assert message == "Required value extensionid not set or is empty"
    mine = sandbox.ask(world, "callRecords", NOW, extensionid=first_id(world), **WINDOW)
    assert len(mine) == 1


def test_account_wide_sms_can_be_refused_and_sms_switched_off(world: World) -> None:
    did = world.extensions[first_id(world)]["did"]
    world.add_sms(did=did, timestamp=NOW - 30, peer="+15550002", message="hi")
    assert len(sandbox.ask(world, "smsGet", NOW, page=1, **WINDOW)) == 1
    world.quirks.account_wide_sms = False
    assert refusal(world, "smsGet", page=1, **WINDOW) == "Required value did not set or is empty"
    assert len(sandbox.ask(world, "smsGet", NOW, did=did, page=1, **WINDOW)) == 1
    world.quirks.sms_enabled = False
    assert refusal(world, "smsGet", did=did, page=1, **WINDOW) == NO_SMS_MESSAGE


@pytest.mark.parametrize(
    ("lag_s", "asked_at", "listed"),
    [
        # No lag: listed from the second it began.
        (0, NOW, 1),
        # A 30 s lag: not listed 29 s after, listed at 30 s.
        (30, NOW + 29, 0),
        (30, NOW + 30, 1),
    ],
)
def test_call_records_are_listed_late(world: World, lag_s: int, asked_at: int, listed: int) -> None:
    world.quirks.call_lag_s = lag_s
    world.add_call(extensionid=first_id(world), startdate=NOW, callernum="+15550003")
    assert len(sandbox.ask(world, "callRecords", asked_at, **WINDOW)) == listed


def test_a_voicemail_lands_after_its_call_record(world: World) -> None:
    world.quirks.voicemail_lag_s = 5
    ext = first_id(world)
    world.add_voicemail(extensionid=ext, timestamp=NOW, callernum="+15550004")
    assert len(sandbox.ask(world, "callRecords", NOW, **WINDOW)) == 1
    assert sandbox.ask(world, "extensionVoicemailGet", NOW + 4, extensionid=ext) == []
    assert len(sandbox.ask(world, "extensionVoicemailGet", NOW + 5, extensionid=ext)) == 1


def test_meter_counts_the_busiest_second_and_refuses_over_the_limit() -> None:
    clock = ManualClock(100.0)
    meter = RequestMeter(rate=4.0, clock=clock)
    admitted = []
    for _ in range(6):  # six at once: four tokens, two refused
        admitted.append(meter.admit())
    assert admitted == [True] * 4 + [False] * 2
    assert (meter.refused, meter.peak_per_s) == (2, 6)
    clock.now += 1.0  # a second later the bucket is full again and the window empty
    assert meter.admit()
    assert meter.peak_per_s == 6


def test_meter_without_a_limit_only_counts() -> None:
    clock = ManualClock(0.0)
    meter = RequestMeter(clock=clock)
    for step in range(20):
        clock.now = step * 0.25  # four a second
        assert meter.admit()
    assert (meter.refused, meter.peak_per_s) == (0, 4)
