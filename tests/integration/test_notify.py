"""Notifications end to end: sandbox -> poll -> ledger -> real SMTP and HTTP receivers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.clock import ManualClock
from support.config import write_config_file
from support.lag import loop_lag
from support.sandbox import first_active
from support.store import open_store

from tossd.config.load import load_config
from tossd.config.model import Config
from tossd.daemon.oneshot import poll_once
from tossd.daemon.resources import open_deliverer, use_place_index
from tossd.daemon.routes import ready_routes
from tossd.notify.deliver import Deliverer
from tossd.sandbox.server import RunningSandbox
from tossd.sandbox.world import World
from tossd.store.store import Store

HOUR = 3600


def routes_config(
    store_url: str, tmp_path: Path, url: str, api_key: str, routes: list[dict[str, Any]]
) -> Config:
    """On SQLite and on PostgreSQL alike (`store_url`, the parametrized fixture)."""
    path = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        store={"url": store_url},
        api={"url": url, "key": api_key, "max_requests_per_s": 1000},
        delivery={"backoff_s": 60, "audio_wait_s": 0},
        routes=routes,
    )
    return load_config(path, {})


@pytest.fixture
def store_of(store_url: str, db_path: Path) -> Callable[[], Store]:
    """Opens the store `tossd` keeps (a new one per call: a new process), its recordings in
    tmp_path/state/audio."""

    def opener() -> Store:
        return Store.open(store_url, audio_dir=db_path.parent / "audio")

    return opener


async def test_poll_once_delivers_voicemail_by_mail_and_missed_calls_by_json(
    store_url: str,
    sandbox: RunningSandbox,
    smtp_server: Any,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
    store_of: Callable[[], Store],
) -> None:
    world = sandbox.sandbox.world
    ext = first_active(world, now)
    world.add_voicemail(
        extensionid=ext,
        timestamp=now - 60,
        callernum="+13125550199",
        callername="Ada Lovelace",
        length=9,
    )
    world.add_call(extensionid=ext, startdate=now - 30, callernum="+12065550104", seconds=0)
    world.add_call(extensionid=ext, startdate=now - 20, callernum="+14155550178", seconds=0)
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [
            {"name": "mail", "events": ["voicemail"], "notify": [smtp_server.url()]},
            {"name": "pager", "events": ["missed_call"], "notify": [json_receiver.url("missed")]},
        ],
    )
    _, report = await poll_once(config)
    assert report.sent == 3 and report.failed == 0
    mails = await smtp_server.wait_for(1)
    assert len(mails) == 1
    mail = mails[0]
    assert "Ada Lovelace" in mail["Subject"] and "\n" not in mail["Subject"]
    parts = [p for p in mail.iter_attachments() if p.get_content_type() == "audio/mpeg"]
    assert len(parts) == 1
    with store_of() as store:
        event = next(e for e in store.list_events(kind="voicemail") if e.announce)
        audio = store.audio_for(event.id)
        assert audio is not None and parts[0].get_content() == audio.path.read_bytes()
    missed = await json_receiver.wait_for(2)
    assert sorted(
        "+1 206-555-0104" in p["message"] or "+1 415-555-0178" in p["message"] for p in missed
    ) == [True, True]

    _, again = await poll_once(config)
    assert again.sent == 0
    assert len(smtp_server.messages) == 1 and len(json_receiver.posts) == 2


async def make_deliverer(config: Config, store: Store, clock: ManualClock) -> Deliverer:
    # The ledger's schedule under test control.
    return open_deliverer(config, store, ready_routes(config), clock=clock)


def seed_event(store: Store, world: World, now: int, caller: str = "+15550001") -> None:
    """Record one announced missed call as a poll would (the poller is tested elsewhere)."""
    from tossd.domain import EventKind, NewEvent, Stream

    ext = first_active(world, now)
    event = NewEvent(
        EventKind.MISSED_CALL,
        ext,
        f"call:{ext}:{now}:{caller}",
        now,
        True,
        {"callernum": caller, "callername": "", "seconds": 0, "startdate": now},
    )
    store.record_batch(ext, Stream.CALLS, [event], now, now)


async def test_failing_receiver_is_retried_and_gets_exactly_one(
    store_url: str,
    sandbox: RunningSandbox,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
    store_of: Callable[[], Store],
) -> None:
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [{"name": "pager", "events": ["call"], "notify": [json_receiver.url()]}],
    )
    json_receiver.fail_next(2)
    clock = ManualClock(now)
    with store_of() as store:
        seed_event(store, sandbox.sandbox.world, now)
        deliverer = await make_deliverer(config, store, clock)
        first = await deliverer.drain()
        assert first.failed == 1 and first.sent == 0
        assert (await deliverer.drain()).failed == 0  # not due yet: backoff
        clock.now += 2 * HOUR
        assert (await deliverer.drain()).failed == 1
        clock.now += 4 * HOUR
        assert (await deliverer.drain()).sent == 1
        clock.now += 24 * HOUR
        await deliverer.drain()
        rows = store.ledger().listing()
    assert len(json_receiver.posts) == 1 and json_receiver.attempts == 3
    # Two failed attempts and the one that succeeded.
    assert [(r.state, r.attempts) for r in rows] == [("sent", 3)]


async def test_one_failing_target_never_resends_to_the_healthy_one(
    store_url: str,
    sandbox: RunningSandbox,
    json_receiver: Any,
    second_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
    store_of: Callable[[], Store],
) -> None:
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [
            {
                "name": "both",
                "events": ["missed_call"],
                "notify": [json_receiver.url("ok"), second_receiver.url("down")],
            }
        ],
    )
    second_receiver.down = True
    clock = ManualClock(now)
    with store_of() as store:
        seed_event(store, sandbox.sandbox.world, now)
        deliverer = await make_deliverer(config, store, clock)
        for _ in range(4):
            await deliverer.drain()
            clock.now += 3 * HOUR
        states = sorted(
            (r.target_label.rsplit("/", 1)[0], r.state) for r in store.ledger().listing()
        )
    assert len(json_receiver.posts) == 1
    assert second_receiver.attempts >= 3 and not second_receiver.posts
    assert [s for _, s in states].count("sent") == 1


async def test_restart_between_attempts_loses_and_repeats_nothing(
    store_url: str,
    sandbox: RunningSandbox,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
    store_of: Callable[[], Store],
) -> None:
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [{"name": "pager", "events": ["call"], "notify": [json_receiver.url()]}],
    )
    json_receiver.down = True
    with store_of() as store:
        seed_event(store, sandbox.sandbox.world, now, "+15550001")
        seed_event(store, sandbox.sandbox.world, now + 1, "+15550002")
        first = await (await make_deliverer(config, store, ManualClock(now))).drain()
    assert first.failed == 2
    json_receiver.down = False
    with store_of() as store:  # a new process: new store, new deliverer
        restarted = await make_deliverer(config, store, ManualClock(now + 2 * HOUR))
        assert (await restarted.drain()).sent == 2
        assert (await restarted.drain()).sent == 0
    callers = sorted(
        ("5550001" in p["message"], "5550002" in p["message"]) for p in json_receiver.payloads
    )
    assert callers == [(False, True), (True, False)]


async def test_quiet_hours_hold_then_release_one_digest(
    store_url: str,
    sandbox: RunningSandbox,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
    store_of: Callable[[], Store],
) -> None:
    local = datetime.fromtimestamp(now, UTC)
    start = (local - timedelta(minutes=30)).strftime("%H:%M")
    end = (local + timedelta(minutes=30)).strftime("%H:%M")
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [
            {
                "name": "night",
                "events": ["call"],
                "notify": [json_receiver.url()],
                "quiet_hours": f"{start}-{end}",
                "timezone": "UTC",
            }
        ],
    )
    clock = ManualClock(now)
    with store_of() as store:
        deliverer = await make_deliverer(config, store, clock)
        for n in range(3):
            seed_event(store, sandbox.sandbox.world, now + n, f"+1555000{n}")
            assert (await deliverer.drain()).sent == 0
        assert all(r.held_until for r in store.ledger().listing())
        clock.now = now + 31 * 60
        released = await deliverer.drain()
        assert released.sent == 3
        assert (await deliverer.drain()).sent == 0
    assert len(json_receiver.posts) == 1
    digest = json_receiver.payloads[0]
    assert "3" in digest["title"]
    assert all(f"555000{n}" in digest["message"] for n in range(3))


async def test_hostile_caller_id_is_neutralised_on_every_receiver(
    store_url: str,
    sandbox: RunningSandbox,
    smtp_server: Any,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
) -> None:
    world = sandbox.sandbox.world
    ext = first_active(world, now)
    hostile = "<!channel> @everyone\r\nBcc: victim@example.com\x1b[31m <@U123>"
    world.add_voicemail(
        extensionid=ext, timestamp=now - 10, callernum="+15550123", callername=hostile
    )
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [
            {"name": "mail", "events": ["voicemail"], "notify": [smtp_server.url()]},
            {"name": "hook", "events": ["voicemail"], "notify": [json_receiver.url()]},
        ],
    )
    await poll_once(config)
    mail = (await smtp_server.wait_for(1))[0]
    assert mail["Bcc"] is None and "victim" not in (mail["To"] or "")
    assert "\n" not in mail["Subject"] and "\x1b" not in mail.as_string()
    payload = (await json_receiver.wait_for(1))[0]
    for text in (payload["title"], payload["message"]):
        assert "<!channel>" not in text and "<@U123>" not in text and "@everyone" not in text
        assert "\x1b" not in text and "\r" not in text
    assert "\n" not in payload["title"]


async def test_down_receiver_gets_everything_after_outbox_retry(
    store_url: str,
    sandbox: RunningSandbox,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
    run_tossd: Callable[..., Any],
) -> None:
    world = sandbox.sandbox.world
    ext = first_active(world, now)
    for n in range(3):
        world.add_call(extensionid=ext, startdate=now - 50 + n, callernum=f"+1555010{n}", seconds=0)
    routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [{"name": "pager", "events": ["missed_call"], "notify": [json_receiver.url()]}],
    )
    config = str(tmp_path / "tossd.toml")
    json_receiver.down = True
    code, out, err = await run_tossd("poll", "--once", "-c", config)
    assert code == 0, err
    assert "3 failed" in out
    json_receiver.down = False
    code, out, err = await run_tossd("outbox", "retry", "-c", config)
    assert code == 0, err
    assert "3 sent" in out
    assert len(json_receiver.posts) == 3
    code, out, _ = await run_tossd("outbox", "--state", "sent", "-c", config)
    assert code == 0 and out.count("sent") == 3


async def test_audio_over_the_cap_is_not_attached_and_the_text_says_why(
    store_url: str,
    sandbox: RunningSandbox,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
) -> None:
    world = sandbox.sandbox.world
    ext = first_active(world, now)
    world.add_voicemail(extensionid=ext, timestamp=now - 10, callernum="+15550123", length=20)
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [{"name": "hook", "events": ["voicemail"], "notify": [json_receiver.url()]}],
    )
    tight = config.model_copy(
        update={"delivery": config.delivery.model_copy(update={"max_attachment_mb": 0.01})}
    )
    _, report = await poll_once(tight)
    assert report.sent == 1
    payload = (await json_receiver.wait_for(1))[0]
    assert not payload.get("attachments")
    assert "Recording not attached" in payload["message"] and "limit" in payload["message"]


async def test_targets_without_attachments_say_so(
    store_url: str,
    sandbox: RunningSandbox,
    tmp_path: Path,
    api_key: str,
    now: int,
    store_of: Callable[[], Store],
    make_client: Callable[..., Any],
) -> None:
    from tossd.notify.message import SendResult
    from tossd.poll.poller import Poller

    world = sandbox.sandbox.world
    ext = first_active(world, now)
    world.add_voicemail(extensionid=ext, timestamp=now - 10, callernum="+15550123", length=5)
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [
            {
                "name": "slack",
                "events": ["voicemail"],
                "notify": ["slack://T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx"],
            }
        ],
    )
    sent: list[Any] = []

    async def capture(url: str, message: Any, **_: Any) -> SendResult:
        sent.append(message)
        return SendResult(ok=True)

    with store_of() as store:
        await Poller(make_client(), store, config.poll).poll_all()
        # Slack is not on loopback: the deliverer's `send` seam captures what would be sent.
        routes = ready_routes(config)
        deliverer = Deliverer(store, store.ledger(), routes, config.delivery, send=capture)
        assert (await deliverer.drain()).sent == 1
    assert sent[0].attachments == ()
    assert "Recording not attached: slack targets do not carry files." in sent[0].body


async def test_undeliverable_goes_dead_and_retry_all_revives_it(
    store_url: str,
    sandbox: RunningSandbox,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
    store_of: Callable[[], Store],
) -> None:
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [{"name": "pager", "events": ["call"], "notify": [json_receiver.url()]}],
    )
    config = config.model_copy(
        update={"delivery": config.delivery.model_copy(update={"max_attempts": 2})}
    )
    json_receiver.down = True
    clock = ManualClock(now)
    with store_of() as store:
        seed_event(store, sandbox.sandbox.world, now)
        deliverer = await make_deliverer(config, store, clock)
        await deliverer.drain()
        clock.now += 2 * HOUR
        second = await deliverer.drain()
        assert second.dead == 1
        assert [r.state for r in store.ledger().listing()] == ["dead"]
        assert store.ledger().retry(int(clock.now)) == 0  # dead rows need --all
        json_receiver.down = False
        assert store.ledger().retry(int(clock.now), include_dead=True) == 1
        assert (await deliverer.drain()).sent == 1
    assert len(json_receiver.posts) == 1


async def test_notify_test_reports_each_target(
    store_url: str,
    json_receiver: Any,
    second_receiver: Any,
    tmp_path: Path,
    api_key: str,
    run_tossd: Callable[..., Any],
) -> None:
    second_receiver.down = True
    routes_config(
        store_url,
        tmp_path,
        "http://127.0.0.1:9/apihttp.php",
        api_key,
        [
            {
                "name": "both",
                "events": ["call"],
                "notify": [json_receiver.url("a", auth="u:hunter2pass"), second_receiver.url("b")],
            }
        ],
    )
    code, out, err = await run_tossd("notify", "test", "-c", str(tmp_path / "tossd.toml"))
    assert code == 1
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].endswith("ok") and "FAILED" in lines[1]
    assert "hunter2pass" not in out + err
    assert json_receiver.payloads[0]["title"]


async def test_notify_config_file_with_tags_selects_targets(
    store_url: str,
    sandbox: RunningSandbox,
    json_receiver: Any,
    second_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
) -> None:
    world = sandbox.sandbox.world
    world.add_call(
        extensionid=first_active(world, now),
        startdate=now - 5,
        callernum="+15550111",
        seconds=0,
    )
    apprise_yml = tmp_path / "apprise.yml"
    apprise_yml.write_text(
        "urls:\n"
        f"  - {json_receiver.url('family')}:\n      tag: family\n"
        f"  - {second_receiver.url('ops')}:\n      tag: ops\n"
    )
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [
            {
                "name": "fam",
                "events": ["missed_call"],
                "notify_config": str(apprise_yml),
                "tags": ["family"],
            }
        ],
    )
    _, report = await poll_once(config)
    assert report.sent == 1
    assert len(json_receiver.posts) == 1 and not second_receiver.posts


MP3_FRAME = b"\xff\xfb\x90\x64" + b"\0" * 400


@pytest.mark.parametrize(
    ("download_failures", "audio", "says"),
    [
        # the provider's download failed: its fault, said so
        (1, None, "could not be downloaded from Tossable Digits"),
        # nothing failed to download: saving it here did (a full disk), never the provider
        (0, None, "tossd could not save it on this server"),
        # HTML where a recording should be: never attached as audio/mpeg
        (0, b"<html>502 Bad Gateway</html>", "not an MP3"),
        # a real MP3 frame (or an ID3 tag) is attached
        (0, MP3_FRAME, "Recording attached"),
        (0, b"ID3\x04\0\0\0\0\0\0" + MP3_FRAME, "Recording attached"),
    ],
    ids=["download-failed", "local-write-failed", "not-mp3", "mp3-frame", "id3"],
)
def test_the_recording_sentence_tells_local_faults_and_junk_from_provider_faults(
    store_url: str, tmp_path: Path, download_failures: int, audio: bytes | None, says: str
) -> None:
    from tossd.domain import EventKind, NewEvent, Stream
    from tossd.notify.attach import AudioLimits, recording

    config = routes_config(
        store_url,
        tmp_path,
        "http://127.0.0.1:9/apihttp.php",
        "k",
        [{"name": "hook", "events": ["voicemail"], "notify": ["json://127.0.0.1:9/x"]}],
    )
    route = ready_routes(config)[0]
    with open_store(tmp_path / "tossd.db") as store:
        payload = {"vmid": "1", "clipid": "c1", "callerid": "+12125550134"}
        new = NewEvent(EventKind.VOICEMAIL, 7, "voicemail:7:1", 1000, True, payload)
        event = store.record_batch(7, Stream.VOICEMAIL, [new], None, 1000).new[0]
        for _ in range(download_failures):
            store.record_audio_failure(event.id, "HTTP 500", 1000)
        if audio is not None:
            (store.audio_dir / "00000001.mp3").write_bytes(audio)
            store.record_audio(
                event.id, clipid="c1", filename="00000001.mp3", size=len(audio), sha256="0", now=1
            )
        limits = AudioLimits(now=5000, audio_wait_s=60, max_attachment_bytes=10 * 2**20)
        attached, sentence = recording(store, event, route, route.targets[0], limits)

    assert says in str(sentence)
    assert bool(attached) == ("attached (" in str(sentence))


async def test_a_burst_above_max_per_cycle_is_one_digest_not_a_flood(
    store_url: str,
    sandbox: RunningSandbox,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
) -> None:
    world = sandbox.sandbox.world
    did = world.extensions[first_active(world, now)]["did"]
    for n in range(120):
        world.add_sms(did=did, timestamp=now - 200 + n, peer=f"+1555020{n:04d}", message="spam")
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [{"name": "texts", "events": ["sms"], "notify": [json_receiver.url()]}],
    )
    burst = config.model_copy(
        update={"delivery": config.delivery.model_copy(update={"max_per_cycle": 50})}
    )

    _, report = await poll_once(burst)

    assert report.sent == 120  # every row is told, and marked sent...
    assert len(json_receiver.posts) == 1  # ...by one message
    digest = json_receiver.payloads[0]
    assert digest["title"] == "tossd: 120 events at once (120 texts)"
    assert "120 events at once on route texts (120 texts)" in digest["message"]
    assert "… and 90 more" in digest["message"]
    assert digest["message"].count("Text message from") == 30


@pytest.mark.slow
async def test_megabyte_texts_never_block_the_event_loop(
    store_url: str,
    sandbox: RunningSandbox,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
) -> None:
    """Texts with 1 MB bodies and senders, polled, stored, rendered and sent: each step on
    the loop costs what a capped text costs (before, sanitising walked every character)."""
    world = sandbox.sandbox.world
    did = world.extensions[first_active(world, now)]["did"]
    huge = "@everyone \u200b<!here> " * (1024 * 1024 // 20)
    for n in range(5):
        world.add_sms(did=did, timestamp=now - 100 + n, peer=f"+1555{n}" + huge, message=huge)
    config = routes_config(
        store_url,
        tmp_path,
        sandbox.url,
        api_key,
        [{"name": "texts", "events": ["sms"], "notify": [json_receiver.url()]}],
    )

    use_place_index(config)  # built once, at start (not per record): not measured here
    async with loop_lag() as lags:
        _, report = await poll_once(config)

    assert report.sent == 5
    assert max(lags) < 1.0
    assert all(len(payload["message"]) < 4000 for payload in json_receiver.payloads)
