"""Pollers against the sandbox over loopback and a real SQLite file."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from support.clock import ManualClock
from support.sandbox import first_active, served_calls

from tossd.api.client import Client
from tossd.config.model import PollConfig
from tossd.domain import EventKind, Stream
from tossd.poll.poller import Poller
from tossd.sandbox.server import RunningSandbox
from tossd.sandbox.world import World
from tossd.store.store import Store


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store


HOUR = 3600


@pytest.fixture
def make_poller(
    make_client: Callable[..., Client], store: Store, now: int
) -> Callable[..., tuple[Poller, ManualClock]]:
    def factory(**overrides: object) -> tuple[Poller, ManualClock]:
        clock = ManualClock(now)
        config = PollConfig.model_validate({"overlap_s": 600, "initial_window_s": 900, **overrides})
        return Poller(make_client(), store, config, clock=clock), clock

    return factory


async def test_two_polls_store_everything_once(
    make_poller: Callable[..., tuple[Poller, ManualClock]], store: Store, world: World, now: int
) -> None:
    ext = first_active(world, now)
    world.add_call(extensionid=ext, startdate=now - 120, callernum="+15550011", seconds=0)
    world.add_voicemail(extensionid=ext, timestamp=now - 60, callernum="+15550012")
    poller, _ = make_poller()
    first = await poller.poll_all()
    second = await poller.poll_all()
    # Calls and texts: the same window twice, nothing new the second time.
    assert all(r.new == 0 for r in second if r.stream is not Stream.VOICEMAIL)
    # The sweep visits other boxes: their history is stored, never announced.
    assert sum(r.announced for r in second) == 0
    assert sum(r.announced for r in first) == 3  # the missed call, the voicemail and its call
    active = {e.extensionid for e in store.active_extensions()}
    stored = {
        (e.extensionid, e.payload["startdate"], e.payload["callernum"])
        for e in store.list_events()
        if e.kind in (EventKind.CALL, EventKind.MISSED_CALL)
    }
    assert stored == served_calls(world, now, active, since=now - 900, until=now + HOUR)
    identities = [e.identity for e in store.list_events()]
    assert len(identities) == len(set(identities))


async def test_the_sweep_visits_every_box_once_per_sweep_period(
    make_poller: Callable[..., tuple[Poller, ManualClock]],
    store: Store,
    sandbox: RunningSandbox,
    now: int,
) -> None:
    # 3 numbers, a 60 s interval, a 180 s sweep: one box a cycle, each once in 3 cycles.
    poller, clock = make_poller(interval_s=60, voicemail_sweep_s=180)
    await poller.sync_extensions()
    active = {e.extensionid for e in store.active_extensions()}
    visited = []
    for cycle in range(2 * len(active)):
        clock.now = now + 60 * cycle
        sandbox.sandbox.requests.clear()
        report = await poller.poll_stream(Stream.VOICEMAIL)
        assert report.extensions == sandbox.sandbox.requests["extensionVoicemailGet"] == 1
        visited += [
            s.extensionid
            for s in store.facts().poll_states()
            # The account's own row (id 0) says the stream as a whole was on time.
            if s.stream is Stream.VOICEMAIL and s.last_attempt_at == clock.now and s.extensionid
        ]
    assert set(visited[:3]) == active and visited[3:] == visited[:3]


async def test_first_sight_announces_only_the_initial_window(
    make_poller: Callable[..., tuple[Poller, ManualClock]], store: Store, world: World, now: int
) -> None:
    ext = first_active(world, now)
    world.add_call(extensionid=ext, startdate=now - 300, callernum="+15550001", seconds=0)
    world.add_call(extensionid=ext, startdate=now - 2 * HOUR, callernum="+15550002", seconds=30)
    poller, _ = make_poller()
    await poller.poll_all()
    by_caller = {e.payload["callernum"]: e for e in store.list_events() if "callernum" in e.payload}
    assert by_caller["+15550001"].announce is True
    assert by_caller["+15550001"].kind is EventKind.MISSED_CALL
    # Older calls are not even asked for: a first sight fetches only the initial window.
    assert "+15550002" not in by_caller
    assert all(not e.announce for e in store.list_events() if e.occurred_at < now - 900)


async def test_everything_that_happened_while_down_is_new_after_restart(
    make_poller: Callable[..., tuple[Poller, ManualClock]],
    store: Store,
    world: World,
    now: int,
) -> None:
    poller, clock = make_poller()
    await poller.poll_all()
    ext = first_active(world, now)
    did = world.extensions[ext]["did"]
    # tossd is down for six hours; calls, a voicemail and a text arrive meanwhile.
    later = now + 6 * HOUR
    for offset in (HOUR, 3 * HOUR, 5 * HOUR):
        world.add_call(
            extensionid=ext, startdate=now + offset, callernum=f"+1555{offset}", seconds=0
        )
    world.add_voicemail(extensionid=ext, timestamp=now + 2 * HOUR, callernum="+15559999")
    world.add_sms(did=did, timestamp=now + 4 * HOUR, peer="+15558888", message="are you there?")
    restarted, clock = make_poller()
    clock.now = later
    reports = await restarted.poll_all()
    new = [e for r in reports for e in r.new_events if e.announce]
    assert {e.payload.get("callernum") for e in new if e.kind is EventKind.MISSED_CALL} == {
        f"+1555{o}" for o in (HOUR, 3 * HOUR, 5 * HOUR)
    }
    assert [e.payload["callerid"] for e in new if e.kind is EventKind.VOICEMAIL] == ["+15559999"]
    assert [e.payload["message"] for e in new if e.kind is EventKind.SMS] == ["are you there?"]
    # What else is new is the history of boxes the sweep saw for the first time: not announced.
    quiet = [e for r in reports for e in r.new_events if not e.announce]
    assert all(e.kind is EventKind.VOICEMAIL and e.occurred_at < later - 900 for e in quiet)


async def test_overlap_catches_a_record_published_late(
    make_poller: Callable[..., tuple[Poller, ManualClock]], store: Store, world: World, now: int
) -> None:
    ext = first_active(world, now)
    world.add_call(extensionid=ext, startdate=now - 60, callernum="+15550100", seconds=10)
    poller, clock = make_poller()
    await poller.poll_all()
    # The provider publishes, after our poll, a call that started before the watermark.
    world.add_call(extensionid=ext, startdate=now - 400, callernum="+15550200", seconds=0)
    clock.now = now + 60
    report = await poller.poll_stream(Stream.CALLS)
    assert [e.payload["callernum"] for e in report.new_events] == ["+15550200"]
    assert report.new_events[0].announce


async def test_a_failing_box_does_not_block_the_others(
    make_poller: Callable[..., tuple[Poller, ManualClock]],
    store: Store,
    world: World,
    sandbox: RunningSandbox,
    now: int,
) -> None:
    poller, _ = make_poller(voicemail_sweep_s=60)  # every box, every cycle
    await poller.sync_extensions()
    broken = first_active(world, now)
    sandbox.sandbox.faults.broken_extensions.add(broken)
    report = await poller.poll_stream(Stream.VOICEMAIL)
    assert report.failed == 1 and report.extensions > 1
    assert report.new > 0
    state = store.poll_state(broken, Stream.VOICEMAIL)
    assert state is not None and state.consecutive_failures == 1 and state.watermark is None
    assert store.count_events() == report.new
    sandbox.sandbox.faults.broken_extensions.clear()
    healed = await poller.poll_stream(Stream.VOICEMAIL)
    assert healed.failed == 0 and healed.new > 0
    healed_state = store.poll_state(broken, Stream.VOICEMAIL)
    assert healed_state is not None and healed_state.consecutive_failures == 0


async def test_voicemail_audio_is_stored_byte_for_byte(
    make_poller: Callable[..., tuple[Poller, ManualClock]],
    store: Store,
    world: World,
    now: int,
) -> None:
    ext = first_active(world, now)
    vm = world.add_voicemail(extensionid=ext, timestamp=now - 30, callernum="+15551234", length=7)
    poller, _ = make_poller()
    await poller.poll_all()
    event = next(
        e for e in store.list_events(kind="voicemail") if e.payload["vmid"] == str(vm["vmid"])
    )
    audio = store.audio_for(event.id)
    assert audio is not None
    served = base64.b64decode(
        world.call("audioclipGet", {"clipid": str(vm["clipid"])}, now)["filedata"]
    )
    assert audio.path.read_bytes() == served
    assert audio.path.stat().st_mode & 0o777 == 0o600
    assert audio.path.name == f"{event.id:08d}.mp3"  # a name we made, not API text
    # History voicemails (not announced) are not downloaded.
    unannounced = [e for e in store.list_events(kind="voicemail") if not e.announce]
    assert unannounced and all(store.audio_for(e.id) is None for e in unannounced)


async def test_ended_extension_stops_being_polled_and_keeps_history(
    make_poller: Callable[..., tuple[Poller, ManualClock]],
    store: Store,
    world: World,
    sandbox: RunningSandbox,
    now: int,
) -> None:
    poller, clock = make_poller(voicemail_sweep_s=60)  # every box, every cycle
    await poller.poll_all()
    ext = first_active(world, now)
    before = len([e for e in store.list_events() if e.extensionid == ext])
    world.call("extensionCancel", {"extensionid": str(ext)}, now)
    clock.now = now + 10
    change = await poller.sync_extensions()
    assert change.ended == [ext]
    sandbox.sandbox.requests.clear()
    await poller.poll_stream(Stream.VOICEMAIL)
    assert sandbox.sandbox.requests["extensionVoicemailGet"] == len(store.active_extensions())
    assert ext not in {e.extensionid for e in store.active_extensions()}
    assert len([e for e in store.list_events() if e.extensionid == ext]) == before
