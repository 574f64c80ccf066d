"""Config edits between runs never lose what is owed: rows follow a target's identity (its
name, else its place in the route) across URL edits; rows of a removed route or target are
orphaned, shown, counted and warned about, and `outbox retry --all` re-plans them.

Real processes on one real SQLite file: a one-shot that fails, a config edit, then the daemon
or `tossd outbox retry` delivering to real loopback receivers.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from support.cli import DaemonProcess, run_tossd
from support.config import write_config_file
from support.net import free_port
from support.receivers import JsonReceiver
from support.wait import wait_until

from tossd.config.load import load_config
from tossd.daemon.resources import open_deliverer
from tossd.daemon.routes import ready_routes
from tossd.domain import DeliveryState, EventKind, NewEvent, Stream
from tossd.notify.routing import fingerprint
from tossd.store.records import PlannedDelivery
from tossd.store.store import Store

EXTENSION = 10001
CALLERS = [f"+1206555{n:04d}" for n in range(5)]


def write(
    tmp_path: Path, url: str, api_key: str, routes: list[dict[str, Any]], **extra: Any
) -> Path:
    return write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": url, "key": api_key, "max_requests_per_s": 1000},
        poll={"interval_s": 0.5, "jitter_s": 0.0, "streams": ["sms"]},
        # Retries come quickly, so a restarted daemon sends the owed rows within a second.
        delivery={"interval_s": 0.2, "timeout_s": 5, "backoff_s": 0.2, "max_backoff_s": 0.5},
        log={"level": "info", "format": "json"},
        routes=routes,
        **extra,
    )


def seed(path: Path) -> None:
    """Five missed calls in the store, as a poll would have recorded them."""
    config = load_config(path, {})
    events = [
        NewEvent(
            EventKind.MISSED_CALL,
            EXTENSION,
            f"call:{EXTENSION}:{1_800_000_000 + n}:{caller}",
            1_800_000_000 + n,
            True,
            {"callernum": caller, "callername": "", "seconds": 0, "startdate": 1_800_000_000},
        )
        for n, caller in enumerate(CALLERS)
    ]
    with Store.open(config.store_url, audio_dir=config.state_dir / "audio") as store:
        store.record_batch(EXTENSION, Stream.CALLS, events, 1_800_000_000, 1_800_000_000)


def copies(receiver: JsonReceiver) -> Counter[str]:
    """How many notifications each caller's call got (the number is in the message)."""
    seen: Counter[str] = Counter()
    for post in receiver.posts:
        seen.update(c for c in CALLERS if f"{c[-7:-4]}-{c[-4:]}" in post.payload["message"])
    return seen


def states(path: Path) -> Counter[str]:
    config = load_config(path, {})
    with Store.open(config.store_url, audio_dir=config.state_dir / "audio") as store:
        return Counter(row.state.value for row in store.ledger().listing())


async def fail_once(path: Path) -> None:
    """`tossd outbox retry` against a target that is down: every row stays owed (the
    target's breaker opens after a few failures, so the last rows wait untried)."""
    code, out, err = await run_tossd("outbox", "retry", "-c", str(path))
    assert code == 1, (out, err)
    found = states(path)
    assert found["retrying"] >= 3
    assert found["retrying"] + found["pending"] == len(CALLERS), found


async def test_a_corrected_url_gets_every_owed_row_once_after_a_restart(
    sandbox: Any, json_receiver: JsonReceiver, tmp_path: Path, api_key: str
) -> None:
    wrong = f"json://127.0.0.1:{free_port()}/notify"  # nothing listens there
    route = {"name": "pager", "events": ["missed_call"], "notify": [wrong]}
    path = write(tmp_path, sandbox.url, api_key, [route])
    seed(path)
    await fail_once(path)

    # The port is corrected (the same place in the route): the daemon sends what was owed.
    write(tmp_path, sandbox.url, api_key, [route | {"notify": [json_receiver.url()]}])
    daemon = await DaemonProcess(tmp_path / "daemon.log", "run", "-c", str(path)).start()
    try:
        await json_receiver.wait_for(len(CALLERS), timeout=20)
        await wait_until(lambda: states(path) == {"sent": len(CALLERS)}, timeout=10)
    finally:
        code, _ = await daemon.terminate(20)
    assert code == 0, daemon.text()
    assert copies(json_receiver) == dict.fromkeys(CALLERS, 1)
    assert not [r for r in daemon.records() if r["event"] == "delivery.orphaned"]


async def test_a_named_target_keeps_its_rows_when_its_url_changes_and_it_moves(
    sandbox: Any,
    json_receiver: JsonReceiver,
    second_receiver: JsonReceiver,
    tmp_path: Path,
    api_key: str,
) -> None:
    wrong = f"json://127.0.0.1:{free_port()}/notify"
    route = {"name": "pager", "events": ["missed_call"], "notify": [{"name": "ops", "url": wrong}]}
    path = write(tmp_path, sandbox.url, api_key, [route])
    seed(path)
    await fail_once(path)

    # A new target comes first and "ops" gets its right URL: the rows follow the name.
    named = {"name": "ops", "url": json_receiver.url()}
    write(tmp_path, sandbox.url, api_key, [route | {"notify": [second_receiver.url(), named]}])
    code, out, err = await run_tossd("outbox", "retry", "-c", str(path))
    assert code == 0, (out, err)
    assert f"{len(CALLERS)} notifications due again" in out
    assert f"{len(CALLERS)} sent" in out
    assert copies(json_receiver) == dict.fromkeys(CALLERS, 1)
    assert second_receiver.posts == []  # the events were planned before it was added


async def test_a_removed_route_orphans_its_rows_and_retry_all_brings_them_back(
    sandbox: Any, json_receiver: JsonReceiver, tmp_path: Path, api_key: str
) -> None:
    pager = {"name": "pager", "events": ["missed_call"], "notify": [json_receiver.url()]}
    texts = {"name": "texts", "events": ["sms"], "notify": [json_receiver.url("texts")]}
    json_receiver.down = True
    path = write(tmp_path, sandbox.url, api_key, [pager, texts])
    seed(path)
    await fail_once(path)

    # The route is removed: at start the daemon orphans its rows, says so once, counts them.
    port = free_port()
    write(tmp_path, sandbox.url, api_key, [texts], health={"listen": f"127.0.0.1:{port}"})
    daemon = await DaemonProcess(tmp_path / "daemon.log", "run", "-c", str(path)).start()
    try:
        await wait_until(
            lambda: daemon.logged("delivery.orphaned"),
            timeout=20,
            what="the orphaned warning",
        )
        scraped = b""

        async def scraped_store() -> bool:
            nonlocal scraped
            scraped = await metrics(port)
            return b"tossd_store_up 1.0" in scraped

        await wait_until(scraped_store, timeout=10, what="a /metrics scrape")
    finally:
        code, _ = await daemon.terminate(20)
    assert code == 0, daemon.text()
    assert b'tossd_deliveries{state="orphaned"} 5.0' in scraped
    warnings = [r for r in daemon.records() if r["event"] == "delivery.orphaned"]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "warning"
    assert (warnings[0]["rows"], warnings[0]["routes"]) == (5, ["pager"])
    assert "outbox retry --all" in warnings[0]["hint"]
    code, out, err = await run_tossd("outbox", "--state", "orphaned", "-c", str(path))
    assert code == 0, err
    assert out.count("orphaned") == len(CALLERS)

    # Plain `retry` leaves orphans alone; `retry --all` after adding the route back sends them.
    json_receiver.down = False
    write(tmp_path, sandbox.url, api_key, [pager, texts])
    code, out, err = await run_tossd("outbox", "retry", "-c", str(path))
    assert (code, json_receiver.posts) == (0, []), (out, err)
    code, out, err = await run_tossd("outbox", "retry", "--all", "-c", str(path))
    assert code == 0, (out, err)
    assert f"{len(CALLERS)} notifications due again" in out
    assert f"{len(CALLERS)} sent" in out
    assert copies(json_receiver) == dict.fromkeys(CALLERS, 1)
    assert states(path) == {"sent": len(CALLERS)}


async def test_retry_all_replans_orphans_onto_the_routes_that_take_them_now(
    sandbox: Any, json_receiver: JsonReceiver, tmp_path: Path, api_key: str
) -> None:
    json_receiver.down = True
    old = {"name": "pager", "events": ["missed_call"], "notify": [json_receiver.url("old")]}
    path = write(tmp_path, sandbox.url, api_key, [old])
    seed(path)
    await fail_once(path)

    # Renamed, and sms-only: nothing takes a missed call, so the rows stay orphaned.
    texts = {"name": "texts", "events": ["sms"], "notify": [json_receiver.url("texts")]}
    write(tmp_path, sandbox.url, api_key, [texts])
    json_receiver.down = False
    code, out, err = await run_tossd("outbox", "retry", "--all", "-c", str(path))
    assert code == 0, (out, err)
    assert f"{len(CALLERS)} left orphaned: no current route takes them" in out
    assert json_receiver.posts == []

    # A route that takes missed calls now: the rows are re-planned onto it, once.
    new = {"name": "on-call", "events": ["call"], "notify": [json_receiver.url("new")]}
    write(tmp_path, sandbox.url, api_key, [texts, new])
    code, out, err = await run_tossd("outbox", "retry", "--all", "-c", str(path))
    assert code == 0, (out, err)
    assert f"re-planned onto current routes: on-call ({len(CALLERS)})" in out
    assert f"{len(CALLERS)} sent" in out
    assert copies(json_receiver) == dict.fromkeys(CALLERS, 1)
    assert {post.path for post in json_receiver.posts} == {"/new"}
    code, out, err = await run_tossd("outbox", "retry", "--all", "-c", str(path))
    assert (code, out.splitlines()[0]) == (0, "0 notifications due again"), err
    assert len(json_receiver.posts) == len(CALLERS)


async def test_rows_of_an_older_ledger_keyed_by_url_take_their_targets_identity(
    sandbox: Any, json_receiver: JsonReceiver, tmp_path: Path, api_key: str
) -> None:
    """Ledgers before target identities named a target by its URL's fingerprint."""
    url = json_receiver.url()
    path = write(
        tmp_path, sandbox.url, api_key, [{"name": "pager", "events": ["call"], "notify": [url]}]
    )
    seed(path)
    config = load_config(path, {})
    with Store.open(config.store_url, audio_dir=config.state_dir / "audio") as store:
        legacy = [PlannedDelivery("pager", fingerprint(url), "json://127.0.0.1/notify")]
        assert store.ledger().plan(lambda _event: legacy, 1_800_000_000) == len(CALLERS)
        deliverer = open_deliverer(config, store, ready_routes(config))
        assert {row.target for row in store.ledger().listing()} == {"notify[0]"}
        report = await deliverer.drain()
        assert report.sent == len(CALLERS)
        states_now = {row.state for row in store.ledger().listing()}
    assert states_now == {DeliveryState.SENT}
    assert copies(json_receiver) == dict.fromkeys(CALLERS, 1)


async def metrics(port: int) -> bytes:
    """/metrics as scraped, or b"" while the daemon is not listening yet."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as reply,
        ):
            return await reply.read()
    except aiohttp.ClientError:
        return b""
