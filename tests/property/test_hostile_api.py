"""A hostile provider against the client and the poller: records dated in the future or in
year 10000, huge integers, repeated ids, unreadable records, wrong shapes, dripped and
endless bodies, credentials in the URL and provider text full of mentions. Per case: no
crash, nothing the provider reported correctly lost, nothing stored twice."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from support.cli import RunTossd
from support.clock import ManualClock
from support.receivers import JsonReceiver, serve_json
from support.sandbox import API_KEY, first_active, make_world, serve_sandbox
from support.store import open_store
from support.wait import wait_until

from tossd.api.client import Client
from tossd.api.options import ApiOptions
from tossd.cli.eventlist import render_table
from tossd.config.load import load_config
from tossd.config.model import PollConfig
from tossd.config.render import render_effective
from tossd.daemon.alerts import Alerter
from tossd.domain import EventKind, Stream
from tossd.errors import ApiHttpError, ApiMalformedReply, ApiRejected, ApiTimeout
from tossd.poll.poller import Poller
from tossd.sandbox.server import Faults, RunningSandbox
from tossd.sandbox.world import World
from tossd.store.store import Store

HOUR = 3600
MIB = 1024 * 1024
YEAR_10000 = 253402300800
#: What a client may read past its 64 MiB cap before it hangs up (socket buffers, a chunk).
SLACK = 16 * MIB


@pytest.fixture
async def hostile(now: int) -> AsyncIterator[RunningSandbox]:
    """A quiet account (no history) whose provider misbehaves as each test tells it."""
    world = make_world(now, history_days=0, activity_every=10**9, page_size=50)
    async with serve_sandbox(world, faults=Faults()) as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "tossd.db")


@pytest.fixture
async def client(hostile: RunningSandbox) -> AsyncIterator[Client]:
    options = ApiOptions(
        url=hostile.url, timeout_s=5.0, max_requests_per_s=1000.0, retries=0, backoff_s=0.01
    )
    async with Client.connect(options, API_KEY) as api:
        yield api


@pytest.fixture
def poller(client: Client, store: Store, now: int) -> tuple[Poller, ManualClock]:
    clock = ManualClock(now)
    config = PollConfig.model_validate({"overlap_s": 600, "initial_window_s": 900})
    return Poller(client, store, config, clock=clock), clock


def tamper(running: RunningSandbox, method: str, hook: Callable[[Any], Any]) -> None:
    running.sandbox.faults.hostile.tamper[method] = hook


def extra(*records: dict[str, Any]) -> Callable[[Any], Any]:
    """Add `records` to every non-empty page (an empty one still ends the listing)."""
    return lambda data: [*data, *records] if data else data


def calls(store: Store) -> list[tuple[int, str]]:
    kinds = (EventKind.CALL, EventKind.MISSED_CALL)
    return sorted(
        (e.occurred_at, str(e.payload["callernum"])) for e in store.list_events() if e.kind in kinds
    )


def identities_unique(store: Store) -> bool:
    identities = [e.identity for e in store.list_events()]
    return len(identities) == len(set(identities))


def world_of(running: RunningSandbox) -> World:
    return running.sandbox.world


# -- times -------------------------------------------------------------------------------


async def test_a_future_record_never_blinds_polling(
    hostile: RunningSandbox, poller: tuple[Poller, ManualClock], store: Store, now: int
) -> None:
    world, (polling, clock) = world_of(hostile), poller
    ext = first_active(world, now)
    world.add_call(extensionid=ext, startdate=now - 120, callernum="+15550001")
    future = {"startdate": now + 20 * HOUR, "extensionid": ext, "callernum": "+15559999"}
    tamper(hostile, "callRecords", extra(future))
    with capture_logs() as logs:
        await polling.poll_stream(Stream.CALLS)
        # A real call a minute later: the next window must still reach it.
        world.add_call(extensionid=ext, startdate=now + 60, callernum="+15550002")
        clock.now = now + 120
        await polling.poll_stream(Stream.CALLS)
    assert calls(store) == [
        (now - 120, "+15550001"),
        (now + 60, "+15550002"),
        # The future record is kept as data, once.
        (now + 20 * HOUR, "+15559999"),
    ]
    said = [e for e in logs if e["event"] == "poll.implausible_time"]
    assert [e["occurred_at"] for e in said] == [now + 20 * HOUR]  # once, though fetched twice
    assert identities_unique(store)


async def test_a_year_10000_record_is_skipped_and_the_rest_stored(
    hostile: RunningSandbox, poller: tuple[Poller, ManualClock], store: Store, now: int
) -> None:
    world, (polling, _) = world_of(hostile), poller
    ext = first_active(world, now)
    world.add_call(extensionid=ext, startdate=now - 60, callernum="+15550001")
    tamper(
        hostile,
        "callRecords",
        extra({"startdate": YEAR_10000, "extensionid": ext, "callernum": "+15559999"}),
    )
    with capture_logs() as logs:
        report = await polling.poll_stream(Stream.CALLS)
    assert report.failed == 0
    assert calls(store) == [(now - 60, "+15550001")]
    assert [e["skipped"] for e in logs if e["event"] == "api.records_skipped"] == [1]
    # What `tossd events` prints: every stored date is one a time zone can show.
    assert "+15550001" in render_table(store.list_events(), {})


async def test_a_year_10000_record_never_crashes_poll_delivery_or_events(
    hostile: RunningSandbox,
    write_config: Callable[..., Path],
    run_tossd: RunTossd,
    now: int,
) -> None:
    world = world_of(hostile)
    ext = first_active(world, now)
    world.add_call(extensionid=ext, startdate=now - 60, callernum="+15550001")
    bogus = {"startdate": YEAR_10000, "extensionid": ext, "callernum": "+15559999"}
    tamper(hostile, "callRecords", extra(bogus))
    async with serve_json(JsonReceiver()) as receiver:
        route = {"name": "all", "events": ["call"], "notify": [receiver.url()]}
        # The route also gets missed calls (a `call` route hears them, once).
        config = str(write_config(hostile.url, routes=[route]))
        # Twice: before, each run failed in delivery (`year 10000`) and sent again.
        for _ in range(2):
            code, _out, err = await run_tossd("poll", "--once", "-c", config)
            assert code == 0, err
        assert len(receiver.posts) == 1
        assert "+15559999" not in str(receiver.posts[0].payload)
    code, out, err = await run_tossd("events", "-c", config)
    assert code == 0, err
    listed = out.splitlines()[1:]
    assert len(listed) == 1 and "+15550001" in listed[0]


# -- integers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        {"duration": 2**63},
        {"seconds": "1e30"},
        {"extensionid": 2**63},
        {"extensionid": "1e30"},
        {"startdate": -(2**63)},
    ],
)
async def test_huge_integers_never_reach_the_store(
    hostile: RunningSandbox,
    poller: tuple[Poller, ManualClock],
    store: Store,
    now: int,
    field: dict[str, Any],
) -> None:
    world, (polling, _) = world_of(hostile), poller
    ext = first_active(world, now)
    world.add_call(extensionid=ext, startdate=now - 60, callernum="+15550001")
    bad = {"startdate": now - 30, "extensionid": ext, "callernum": "+15559999", **field}
    tamper(hostile, "callRecords", extra(bad))
    report = await polling.poll_stream(Stream.CALLS)
    assert report.failed == 0
    assert calls(store) == [(now - 60, "+15550001")]


# -- records -----------------------------------------------------------------------------


async def test_repeated_ids_in_one_reply_are_stored_once(
    hostile: RunningSandbox, poller: tuple[Poller, ManualClock], store: Store, now: int
) -> None:
    world, (polling, _) = world_of(hostile), poller
    ext = first_active(world, now)
    did = world.extensions[ext]["did"]
    world.add_voicemail(extensionid=ext, timestamp=now - 90, callernum="+15550001")
    world.add_sms(did=did, timestamp=now - 80, peer="+15550002", message="hello")
    tamper(hostile, "extensionVoicemailGet", lambda data: [*data, *data])
    tamper(hostile, "smsGet", lambda data: [*data, *data])
    first = await polling.poll_all()
    second = await polling.poll_all()
    assert all(r.failed == 0 for r in first + second)
    kinds = sorted(e.kind.value for e in store.list_events())
    assert kinds == ["call", "sms", "voicemail"]
    assert identities_unique(store)


async def test_one_unreadable_record_never_blocks_its_number(
    hostile: RunningSandbox, poller: tuple[Poller, ManualClock], store: Store, now: int
) -> None:
    world, (polling, clock) = world_of(hostile), poller
    ext = first_active(world, now)
    world.add_call(extensionid=ext, startdate=now - 60, callernum="+15550001")
    bad = {"startdate": "abc", "extensionid": ext, "callernum": "+15559999"}
    tamper(hostile, "callRecords", extra(bad))
    with capture_logs() as logs:
        first = await polling.poll_stream(Stream.CALLS)
        world.add_call(extensionid=ext, startdate=now + 30, callernum="+15550002")
        clock.now = now + 60
        second = await polling.poll_stream(Stream.CALLS)
    assert first.failed == second.failed == 0
    assert calls(store) == [(now - 60, "+15550001"), (now + 30, "+15550002")]
    skipped = [e for e in logs if e["event"] == "api.records_skipped"]
    assert len(skipped) == 2 and all(len(e["excerpt"]) <= 120 for e in skipped)


# -- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong",
    [
        {"foo": "bar"},
        "Service temporarily unavailable",
        # One bare record where a list belongs.
        {"startdate": 1, "extensionid": 1, "callernum": "+1"},
    ],
)
async def test_a_wrong_shape_is_a_failed_poll_then_retried(
    hostile: RunningSandbox,
    poller: tuple[Poller, ManualClock],
    store: Store,
    now: int,
    wrong: Any,
) -> None:
    world, (polling, clock) = world_of(hostile), poller
    ext = first_active(world, now)
    world.add_call(extensionid=ext, startdate=now - 60, callernum="+15550001")
    tamper(hostile, "callRecords", lambda data: wrong)
    await polling.sync_extensions()
    with capture_logs() as logs:
        failed = await polling.poll_stream(Stream.CALLS)
    assert failed.failed > 0
    (line,) = [e for e in logs if e["event"] == "poll.failed"]
    assert line["error_type"] == "ApiMalformedReply" and len(line["excerpt"]) <= 120
    assert calls(store) == []
    # The provider recovers: the call it listed wrongly is fetched on the next poll.
    del hostile.sandbox.faults.hostile.tamper["callRecords"]
    clock.now = now + 60
    assert (await polling.poll_stream(Stream.CALLS)).failed == 0
    assert calls(store) == [(now - 60, "+15550001")]


async def test_a_junk_second_page_fails_the_poll(
    hostile: RunningSandbox, store: Store, client: Client, now: int
) -> None:
    world = world_of(hostile)
    world.page_size = 1
    ext = first_active(world, now)
    for offset in (60, 50):
        world.add_call(extensionid=ext, startdate=now - offset, callernum=f"+1555{offset}")
    pages = iter([lambda data: data, lambda data: "<html>502</html>"])
    tamper(hostile, "callRecords", lambda data: next(pages, lambda d: d)(data))
    polling = Poller(
        client, store, PollConfig(overlap_s=600, initial_window_s=900), clock=lambda: now
    )
    await polling.sync_extensions()
    assert (await polling.poll_stream(Stream.CALLS)).failed > 0
    # Before, paging ended silently at the junk page: the second call was never asked for.
    assert (await polling.poll_stream(Stream.CALLS)).failed == 0
    assert calls(store) == [(now - 60, "+155560"), (now - 50, "+155550")]


# -- bodies ------------------------------------------------------------------------------


async def test_a_dripped_reply_ends_at_timeout_s(hostile: RunningSandbox) -> None:
    hostile.sandbox.faults.force("drip", method="extensionList")
    options = ApiOptions(url=hostile.url, timeout_s=0.5, retries=0, max_requests_per_s=1000.0)
    async with Client.connect(options, API_KEY) as api:
        # Every read gets a byte, so only a deadline for the whole reply ends it.
        with pytest.raises(ApiTimeout, match=r"within timeout_s=0\.5"):
            await api.extension_list()


@pytest.mark.parametrize(
    ("method", "ask"),
    [
        ("extensionList", lambda api: api.extension_list()),
        # Audio arrives base64 inside the reply: the same cap holds for a clip.
        ("audioclipGet", lambda api: api.audioclip_get(clipid="1")),
    ],
)
async def test_an_endless_reply_is_cut_off_at_the_cap(
    hostile: RunningSandbox, client: Client, method: str, ask: Callable[[Client], Any]
) -> None:
    hostility = hostile.sandbox.faults.hostile
    hostility.endless_limit = 256 * MIB
    hostile.sandbox.faults.force("endless", method=method)
    with pytest.raises(ApiMalformedReply, match="cap"):
        await ask(client)
    # The client hung up near the cap: it never held the rest.
    await wait_until(lambda: hostility.hung_up == 1, timeout=10, what="the client hung up")
    assert hostility.streamed_bytes < 64 * MIB + SLACK


async def test_a_gzip_bomb_is_cut_off_at_the_cap_in_bounded_memory(
    hostile: RunningSandbox, client: Client
) -> None:
    """About 1 MiB of gzip that inflates to 1 GiB: inflated a piece at a time, refused at
    the 64 MiB cap, and never held beyond it."""
    hostility = hostile.sandbox.faults.hostile
    hostility.endless_limit = 1024 * MIB
    hostile.sandbox.faults.force("gzip_bomb", method="extensionList")
    tracemalloc.start()
    try:
        with pytest.raises(ApiMalformedReply, match="cap"):
            await client.extension_list()
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 64 * MIB + SLACK  # the capped body (and one regrowth of its buffer)
    assert hostility.streamed_bytes < 2 * MIB  # what arrived compressed before the hang-up


async def test_gzip_of_gzip_is_refused_unread(hostile: RunningSandbox, client: Client) -> None:
    """`Content-Encoding: gzip, gzip`: each 2.4 KiB received inflates to 1 GiB. tossd never
    asked for it and refuses it from the headers, holding none of it."""
    hostility = hostile.sandbox.faults.hostile
    hostility.endless_limit, hostility.bomb_layers = 2048 * MIB, 2
    hostile.sandbox.faults.force("gzip_bomb", method="extensionList")
    tracemalloc.start()
    try:
        with pytest.raises(ApiMalformedReply, match="unreadable reply encoding: 'gzip, gzip'"):
            await client.extension_list()
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < SLACK


# -- what reaches people -------------------------------------------------------------------


async def test_credentials_in_the_api_url_are_masked(
    hostile: RunningSandbox, write_config: Callable[..., Path]
) -> None:
    port = hostile.url.rsplit(":", 1)[1].split("/")[0]
    secrets = ("hunter2pw", "sekrit-token")
    wrong = f"http://apiuser:hunter2pw@127.0.0.1:{port}/nowhere.php?token=sekrit-token"
    options = ApiOptions(url=wrong, timeout_s=5.0, retries=0, max_requests_per_s=1000.0)
    async with Client.connect(options, API_KEY) as api:
        with pytest.raises(ApiHttpError) as caught:
            await api.extension_list()
        shown = [caught.value.message, repr(api)]
    # The server is still named: user, host and path (as the store's URL is shown).
    assert f"http://apiuser:********@127.0.0.1:{port}/nowhere.php" in caught.value.message
    rendered = render_effective(load_config(write_config(wrong), {}))
    for text in [*shown, rendered]:
        assert not any(secret in text for secret in secrets), text


HOSTILE_WORDS = "\x1b[31m<!channel> @everyone [click](http://evil.example) bad key\x07"


async def test_provider_words_are_inert_in_errors_and_alerts(
    hostile: RunningSandbox, client: Client
) -> None:
    faults = hostile.sandbox.faults
    faults.error_message = HOSTILE_WORDS
    faults.force("status_false", method="extensionList")
    with pytest.raises(ApiRejected) as caught:
        await client.extension_list()
    (alert,) = Alerter(after_failures=3).key_rejected(caught.value.message)
    for text in (caught.value.message, alert.body):
        assert "\x1b" not in text and "\x07" not in text
        assert "<!channel>" not in text and "@everyone" not in text
        assert "[click](" not in text
        assert "bad key" in text  # still readable
