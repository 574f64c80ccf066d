"""One notification per voicemail call, end to end: the sandbox publishes the call (status
"voicemail") and its voicemail, `poll --once` delivers to a real json receiver."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from support.clock import ManualClock
from support.config import write_config_file
from support.sandbox import first_active
from support.store import open_store

from tossd.config.load import load_config
from tossd.config.model import Config
from tossd.daemon.oneshot import poll_once
from tossd.daemon.resources import open_deliverer
from tossd.daemon.routes import ready_routes
from tossd.domain import EventKind, NewEvent, Stream
from tossd.sandbox.server import RunningSandbox


def config_for(
    tmp_path: Path, sandbox: RunningSandbox, api_key: str, route: dict[str, Any]
) -> Config:
    path = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": sandbox.url, "key": api_key, "max_requests_per_s": 1000},
        delivery={"audio_wait_s": 60},
        routes=[route],
    )
    return load_config(path, {})


def states(tmp_path: Path) -> Counter[tuple[str, str]]:
    """(event kind, ledger state) of every row."""
    with open_store(tmp_path / "state" / "tossd.db") as store:
        ledger = store.ledger()
        rows = ledger.listing()
        events = ledger.events([r.event_id for r in rows if r.event_id is not None])
        return Counter((events[r.event_id].kind.value, r.state.value) for r in rows if r.event_id)


async def test_a_voicemail_call_is_told_once_as_the_voicemail_with_its_audio(
    sandbox: RunningSandbox, json_receiver: Any, tmp_path: Path, api_key: str, now: int
) -> None:
    world = sandbox.sandbox.world
    ext = first_active(world, now)
    world.add_voicemail(extensionid=ext, timestamp=now - 60, callernum="+13125550199", length=9)
    world.add_call(extensionid=ext, startdate=now - 30, callernum="+12065550104", seconds=40)
    route = {"name": "all", "events": ["call", "voicemail"], "notify": [json_receiver.url()]}
    config = config_for(tmp_path, sandbox, api_key, route)

    await poll_once(config)
    messages = [post.payload["message"] for post in json_receiver.posts]
    assert len(messages) == 2, messages  # the voicemail, and the answered call: no third
    voicemail = [p for p in json_receiver.posts if "312-555-0199" in p.payload["message"]]
    assert len(voicemail) == 1
    assert "Voicemail" in voicemail[0].payload["title"]
    assert voicemail[0].payload.get("attachments"), "the voicemail carries its recording"
    assert states(tmp_path) == {
        ("call", "folded"): 1,
        ("call", "sent"): 1,
        ("voicemail", "sent"): 1,
    }

    await poll_once(config)  # nothing more, ever
    assert len(json_receiver.posts) == 2


async def test_fold_voicemail_calls_false_tells_both(
    sandbox: RunningSandbox, json_receiver: Any, tmp_path: Path, api_key: str, now: int
) -> None:
    world = sandbox.sandbox.world
    world.add_voicemail(
        extensionid=first_active(world, now), timestamp=now - 60, callernum="+13125550199"
    )
    route = {
        "name": "all",
        "events": ["call", "voicemail"],
        "notify": [json_receiver.url()],
        "fold_voicemail_calls": False,
    }
    await poll_once(config_for(tmp_path, sandbox, api_key, route))
    titles = sorted(post.payload["title"].split()[0] for post in json_receiver.posts)
    assert titles == ["Call", "Voicemail"], titles


async def test_a_call_waits_for_its_voicemail_and_is_told_if_none_comes(
    sandbox: RunningSandbox, json_receiver: Any, tmp_path: Path, api_key: str, now: int
) -> None:
    """The call record comes first; its voicemail later, or never (a hang-up in the greeting)."""
    route = {"name": "all", "events": ["call", "voicemail"], "notify": [json_receiver.url()]}
    config = config_for(tmp_path, sandbox, api_key, route)
    clock = ManualClock(now)

    def call(caller: str, at: int) -> NewEvent:
        payload = {"callernum": caller, "callername": "", "seconds": 30, "startdate": at}
        payload |= {"status": "voicemail", "extensionid": 10001}
        return NewEvent(EventKind.CALL, 10001, f"call:{caller}:{at}", at, True, payload)

    with open_store(tmp_path / "state" / "tossd.db") as store:
        deliverer = open_deliverer(config, store, ready_routes(config), clock=clock)
        store.record_batch(
            10001, Stream.CALLS, [call("+12065550111", now), call("+12065550122", now)], now, now
        )
        report = await deliverer.drain()
        assert (report.sent, report.postponed) == (0, 2)  # both wait for a voicemail

        # One voicemail arrives (its number, stamped within the call): that call is folded.
        vm = {"vmid": 7, "callerid": "+12065550111", "calleridname": "", "callback": ""}
        vm |= {"timestamp": now + 5, "length": 20, "clipid": ""}
        voicemail = NewEvent(EventKind.VOICEMAIL, 10001, "voicemail:10001:7", now + 5, True, vm)
        store.record_batch(10001, Stream.VOICEMAIL, [voicemail], now + 10, now + 10)
        clock.now += 10
        report = await deliverer.drain()
        assert report.folded == 1
        # The other one's voicemail never comes: after audio_wait_s the call itself is told.
        clock.now += 90
        report = await deliverer.drain()
        assert report.sent >= 1
    told = [post.payload["message"] for post in json_receiver.posts]
    assert sum("555-0122" in m for m in told) == 1, told
    assert sum("555-0111" in m for m in told) == 1, told  # as the voicemail only
    assert states(tmp_path)[("call", "folded")] == 1


async def test_a_probe_whose_call_waits_for_its_voicemail_does_not_stall_the_target(
    sandbox: RunningSandbox, json_receiver: Any, tmp_path: Path, api_key: str, now: int
) -> None:
    """The open breaker's one probe falls on a call that waits for its voicemail (postponed,
    not sent): the target must not wait for ever for a result that never comes."""
    path = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": sandbox.url, "key": api_key},
        delivery={"audio_wait_s": 60, "max_attempts": 1},
        routes=[{"name": "all", "events": ["call", "voicemail"], "notify": [json_receiver.url()]}],
    )
    config = load_config(path, {})
    clock = ManualClock(now)

    def call(caller: str, at: int, seconds: int) -> NewEvent:
        payload = {"callernum": caller, "callername": "", "seconds": seconds, "startdate": at}
        payload |= {"status": "voicemail" if seconds else "noanswer", "extensionid": 10001}
        return NewEvent(EventKind.CALL, 10001, f"call:{caller}:{at}", at, True, payload)

    with open_store(tmp_path / "state" / "tossd.db") as store:
        deliverer = open_deliverer(config, store, ready_routes(config), clock=clock)
        json_receiver.fail_next(3)
        missed = [call(f"+1206555010{n}", now - 100 + n, 0) for n in range(3)]
        store.record_batch(10001, Stream.CALLS, missed, now, now)
        await deliverer.drain()  # three failures in a row: the breaker opens (rows given up)
        clock.now += 3600
        # When the probe's time comes, the only due row is a call waiting for its voicemail;
        # then a missed call arrives behind it.
        at = int(clock.now)
        store.record_batch(10001, Stream.CALLS, [call("+12065550199", at - 5, 30)], at, at)
        await deliverer.drain()
        store.record_batch(10001, Stream.CALLS, [call("+12065550188", at, 0)], at, at)
        for _ in range(12):  # two minutes: the wait for the voicemail ends within it
            clock.now += 10
            await deliverer.drain()
    told = [post.payload["message"] for post in json_receiver.posts]
    assert sum("555-0199" in m for m in told) == 1, told  # its voicemail never came: the call
    assert sum("555-0188" in m for m in told) == 1, told
