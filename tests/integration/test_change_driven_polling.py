"""Change-driven polling against the sandbox: account-wide queries, voicemail checks driven by
calls, fallbacks the provider forces, late records, and the request budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from support.clock import ManualClock
from support.sandbox import API_KEY, serve_sandbox
from support.store import open_store
from support.wait import wait_until

from tossd.api.client import Client
from tossd.api.options import ApiOptions
from tossd.config.model import Config, PollConfig
from tossd.daemon.lifecycle import Daemon
from tossd.domain import ACCOUNT, EventKind, Stream
from tossd.poll.plan import REPROBE_S
from tossd.poll.poller import Poller
from tossd.sandbox.server import RunningSandbox
from tossd.sandbox.world import World
from tossd.store.store import Store


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store


MINUTE = 60


@dataclass
class Rig:
    """A sandbox and a poller on one manual clock (the sandbox lists late by that clock)."""

    world: World
    sandbox: RunningSandbox
    store: Store
    clock: ManualClock
    make: Callable[..., Poller]

    @property
    def requests(self) -> Any:
        return self.sandbox.sandbox.requests

    def numbers(self) -> list[int]:
        return sorted(self.world.extensions)

    def announced(self, kind: EventKind | None = None) -> list[str]:
        return [
            e.identity
            for e in self.store.list_events(kind=None if kind is None else kind.value)
            if e.announce
        ]


@pytest.fixture
async def make_rig(now: int, store: Store) -> AsyncIterator[Callable[..., Any]]:
    async with AsyncExitStack() as stack:

        async def factory(
            numbers: int = 3, *, budget: float = 1000.0, rate_limit: float | None = None
        ) -> Rig:
            clock = ManualClock(now)
            world = World.generate(11, now - 3600, extensions=1, history_days=0, activity_every=1e9)
            for index in range(numbers - 1):
                world.add_extension(
                    did=f"+1999555{index:04d}", forward="+15550000000", startdate=now - 86400
                )
            running = await stack.enter_async_context(
                serve_sandbox(world, clock=clock, rate_limit=rate_limit)
            )
            options = ApiOptions(
                url=running.url, max_requests_per_s=budget, retries=0, timeout_s=5.0
            )
            client = await stack.enter_async_context(Client.connect(options, API_KEY))

            def make(**overrides: Any) -> Poller:
                config = PollConfig.model_validate({"interval_s": 60, **overrides})
                return Poller(client, store, config, clock=clock, budget_per_s=budget)

            return Rig(world, running, store, clock, make)

        yield factory


async def test_an_idle_cycle_costs_one_request_per_stream_plus_the_sweep(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig(30)
    poller = rig.make(voicemail_sweep_s=900)
    await poller.poll_all()
    for cycle in range(1, 4):
        rig.clock.now += MINUTE
        rig.requests.clear()
        await poller.poll_all()
        # One query each for calls and texts (and the number list): 30 numbers x 60 s / 900 s
        # = 2 boxes of the sweep.
        assert dict(rig.requests) == {
            "extensionList": 1,
            "callRecords": 1,
            "smsGet": 1,
            "extensionVoicemailGet": 2,
        }, cycle


async def test_a_voicemail_listed_after_its_call_is_announced_once(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig(30)
    rig.world.quirks.voicemail_lag_s = 20
    poller = rig.make(voicemail_sweep_s=86400)
    await poller.poll_all()
    ext = rig.numbers()[5]
    rig.world.add_voicemail(extensionid=ext, timestamp=int(rig.clock.now) + 5, callernum="+1555")
    rig.clock.now += 10
    rig.requests.clear()
    calls = await poller.poll_stream(Stream.CALLS)
    assert calls.due == 1  # the call reached voicemail: its box is due
    first = await poller.poll_voicemail(sweep=False)  # at once: not listed yet
    assert first.new == 0 and rig.requests["extensionVoicemailGet"] == 1
    rig.clock.now += 15  # the daemon's recheck
    second = await poller.poll_voicemail(sweep=False)
    assert [e.payload["callerid"] for e in second.new_events] == ["+1555"]
    assert second.new_events[0].announce
    rig.clock.now += 15
    third = await poller.poll_voicemail(sweep=False)
    assert third.extensions == 0  # found: the box is no longer due
    assert rig.store.schedule().due_boxes() == []
    assert len(rig.announced(EventKind.VOICEMAIL)) == 1


async def test_an_answered_call_keeps_its_box_due_only_for_a_while(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig(3)
    poller = rig.make(voicemail_sweep_s=86400)
    await poller.poll_all()
    ext = rig.numbers()[1]
    rig.world.add_call(extensionid=ext, startdate=int(rig.clock.now), callernum="+1", seconds=30)
    rig.clock.now += 40
    assert (await poller.poll_stream(Stream.CALLS)).due == 1
    checks = 0
    for _ in range(6):
        checks += (await poller.poll_voicemail(sweep=False)).extensions
        rig.clock.now += MINUTE
    # Due until 2 minutes after the call ended (at +30 s): checked at +40, +100 and +160 s.
    assert checks == 3
    assert rig.store.schedule().due_boxes() == []


async def test_late_call_records_are_caught_by_the_overlap(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(3)
    rig.world.quirks.call_lag_s = 90
    poller = rig.make()
    await poller.poll_all()
    start = int(rig.clock.now)
    rig.world.add_call(extensionid=rig.numbers()[0], startdate=start, callernum="+2", seconds=0)
    rig.clock.now += MINUTE
    assert (await poller.poll_stream(Stream.CALLS)).new == 0  # not listed yet
    rig.clock.now += MINUTE
    late = await poller.poll_stream(Stream.CALLS)
    assert [e.payload["callernum"] for e in late.new_events] == ["+2"]
    assert late.new_events[0].announce
    rig.clock.now += MINUTE
    assert (await poller.poll_stream(Stream.CALLS)).new == 0
    assert len(rig.announced(EventKind.MISSED_CALL)) == 1


async def test_account_wide_calls_page_through_every_number(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig(12)
    rig.world.page_size = 5
    poller = rig.make()
    await poller.poll_all()
    for offset, ext in enumerate(rig.numbers() * 2):
        rig.world.add_call(
            extensionid=ext, startdate=int(rig.clock.now) + offset, callernum="+3", seconds=0
        )
    rig.clock.now += MINUTE
    rig.requests.clear()
    report = await poller.poll_stream(Stream.CALLS)
    assert report.new == 24 and report.announced == 24
    # Pages of 5: page 2 shows page 1 was full, so the short page 5 is known to be the last.
    assert rig.requests["callRecords"] == 5
    assert len(set(rig.announced(EventKind.MISSED_CALL))) == 24


async def test_a_refused_account_wide_query_falls_back_per_number_and_reprobes_hourly(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig(4)
    rig.world.quirks.account_wide_calls = False
    poller = rig.make()
    numbers = rig.numbers()
    with capture_logs() as logs:
        await poller.poll_all()
        for ext in numbers:
            rig.world.add_call(
                extensionid=ext, startdate=int(rig.clock.now), callernum=f"+4{ext}", seconds=0
            )
        rig.clock.now += MINUTE
        rig.requests.clear()
        per_number = await poller.poll_stream(Stream.CALLS)
        assert per_number.announced == 4 and per_number.failed == 0
        # One query per number, no probe within the hour (each a page and the empty page
        # after it: a page size is not known until a page has been full).
        assert rig.requests["callRecords"] == 2 * 4
        rig.world.quirks.account_wide_calls = True
        rig.clock.now += REPROBE_S
        rig.requests.clear()
        back = await poller.poll_stream(Stream.CALLS)
        # Account-wide again: one query (a page of the 4 calls, then the empty page).
        assert rig.requests["callRecords"] == 2 and back.new == 0
    refused = [e for e in logs if e["event"] == "poll.account_wide_refused"]
    assert len(refused) == 1 and refused[0]["stream"] == "calls"
    assert "extensionid" in refused[0]["error"]
    assert [e["stream"] for e in logs if e["event"] == "poll.account_wide"] == ["calls"]
    assert not [e for e in logs if e["event"] == "poll.failed"]
    assert len(set(rig.announced(EventKind.MISSED_CALL))) == 4


async def test_texts_per_number_when_the_account_wide_query_is_refused(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig(3)
    rig.world.quirks.account_wide_sms = False
    poller = rig.make()
    await poller.poll_all()
    for ext in rig.numbers():
        did = rig.world.extensions[ext]["did"]
        rig.world.add_sms(did=did, timestamp=int(rig.clock.now), peer="+15", message=f"hi {ext}")
    rig.clock.now += MINUTE
    report = await poller.poll_stream(Stream.SMS)
    assert report.announced == 3
    assert {e.extensionid for e in report.new_events} == set(rig.numbers())
    rig.clock.now += MINUTE
    assert (await poller.poll_stream(Stream.SMS)).new == 0


async def test_an_account_without_sms_warns_once_in_all(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(20)
    rig.world.quirks.sms_enabled = False
    poller = rig.make()
    with capture_logs() as logs:
        for _ in range(5):
            await poller.poll_all()
            rig.clock.now += MINUTE
        asked = rig.requests["smsGet"]
        rig.clock.now += REPROBE_S
        await poller.poll_all()
    assert asked == 1  # one refusal, then off
    assert rig.requests["smsGet"] == 2  # re-probed after an hour, still refused
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [(e["event"], e["stream"]) for e in warnings] == [("poll.unsupported", "sms")]
    # Health: a stream the account does not have is on time, not failing.
    state = rig.store.poll_state(ACCOUNT, Stream.SMS)
    assert state is not None and state.last_success_at == int(rig.clock.now)


async def test_per_number_turns_stay_within_the_budget(make_rig: Callable[..., Any]) -> None:
    # A budget of 5 requests/s and a 2 s interval leave 5 per-number requests a cycle: the
    # 12 numbers take turns (least recently polled first), with one warning in all.
    rig = await make_rig(12, budget=5.0, rate_limit=5.0)
    rig.world.quirks.account_wide_calls = False
    poller = rig.make(interval_s=2, streams=["calls"])
    await poller.sync_extensions()
    with capture_logs() as logs:
        polled: list[int] = []
        for _ in range(6):
            rig.requests.clear()
            await poller.poll_stream(Stream.CALLS)
            polled.append(rig.requests["callRecords"])
            rig.clock.now += 2
    meter = rig.sandbox.sandbox.meter
    assert meter.refused == 0  # the provider's limiter at the budget refused nothing
    assert polled[1:] == [5] * 5  # after the refused probe, 5 numbers a cycle
    stretched = [e for e in logs if e["event"] == "poll.stretched"]
    assert len(stretched) == 1 and stretched[0]["round_s"] == 6.0
    states = [rig.store.poll_state(ext, Stream.CALLS) for ext in rig.numbers()]
    assert all(state is not None and state.last_success_at for state in states)


@pytest.mark.slow
@pytest.mark.parametrize("per_number", [False, True], ids=["account-wide", "per-number"])
async def test_the_daemon_announces_each_event_once_within_the_providers_budget(
    per_number: bool, now: int, tmp_path: Path
) -> None:
    """`tossd run` on a provider that lists voicemails 2 s after their call and refuses
    requests over 8 a second: every call, voicemail and text is announced exactly once, and
    no request is refused."""
    world = World.generate(13, now - 3600, extensions=1, history_days=0, activity_every=1e9)
    for index in range(29):
        world.add_extension(did=f"+1999666{index:04d}", forward="+1555", startdate=now - 86400)
    world.quirks.voicemail_lag_s = 2
    world.quirks.account_wide_calls = world.quirks.account_wide_sms = not per_number
    async with serve_sandbox(world, rate_limit=8.0) as running:
        data = {
            "state_dir": str(tmp_path / "state"),
            "api": {"url": running.url, "key": API_KEY, "max_requests_per_s": 8.0},
            "poll": {"interval_s": 1.0, "jitter_s": 0.0, "voicemail_sweep_s": 30.0},
        }
        config = Config.model_validate(data, context={"env": {}})
        stop = asyncio.Event()
        daemon = asyncio.create_task(Daemon(config).run(stop))
        store_file = tmp_path / "state" / "tossd.db"
        try:
            await wait_until(lambda: running.sandbox.requests["smsGet"] > 0, timeout=30)
            numbers = sorted(world.extensions)
            expected = set()
            for serial, ext in enumerate(numbers[:9]):
                at = int(time.time())
                caller = f"+1444{serial:07d}"
                if serial % 3 == 0:
                    vm = world.add_voicemail(extensionid=ext, timestamp=at, callernum=caller)
                    expected.add(f"voicemail:{ext}:{vm['vmid']}")
                elif serial % 3 == 1:
                    world.add_call(extensionid=ext, startdate=at, callernum=caller, seconds=0)
                    expected.add(f"call:{ext}:{at}:{caller}:")
                else:
                    did = world.extensions[ext]["did"]
                    sms = world.add_sms(did=did, timestamp=at, peer=caller, message="hello")
                    expected.add(f"sms:{sms['smsid']}")
                await asyncio.sleep(0.3)

            def announced() -> list[str]:
                with open_store(store_file, audio_dir=tmp_path / "audio") as store:
                    return [e.identity for e in store.list_events(since=now) if e.announce]

            def all_seen() -> bool:
                seen = announced()
                return all(any(i.startswith(key) for i in seen) for key in expected)

            await wait_until(all_seen, timeout=60, interval=0.5, what="every event announced")
        finally:
            stop.set()
            await daemon
    seen = announced()
    assert len(seen) == len(set(seen))
    for key in expected:
        assert sum(1 for i in seen if i.startswith(key)) == 1, key
    # The provider's limiter (a bucket of 8 tokens refilled at 8 a second) refused nothing.
    # The client starts requests 1/8 s apart; arrivals may bunch a little on a busy machine,
    # which the limiter's bucket absorbs, as a provider's does.
    assert running.sandbox.meter.refused == 0
