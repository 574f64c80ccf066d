"""Two senders on one store never send a row twice: claims decide, in the database.

First two deliverers in one process, each with its own engine (as two processes have),
draining the same owed rows at once; then the real thing: `tossd outbox retry` run in a
loop while `tossd run` delivers 200 notifications.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from support.cli import DaemonProcess, run_tossd
from support.config import write_config_file
from support.receivers import JsonReceiver
from support.wait import wait_until

from tossd.config.load import load_config
from tossd.daemon.resources import open_deliverer
from tossd.daemon.routes import ready_routes
from tossd.domain import EventKind, NewEvent, Stream
from tossd.sandbox.server import RunningSandbox
from tossd.store.store import Store

EXTENSION = 10001


def seed_missed_calls(store: Store, now: int, count: int) -> list[str]:
    callers = [f"+1206{n:07d}" for n in range(count)]
    events = [
        NewEvent(
            EventKind.MISSED_CALL,
            EXTENSION,
            f"call:{EXTENSION}:{now}:{caller}",
            now,
            True,
            {"callernum": caller, "callername": "", "seconds": 0, "startdate": now},
        )
        for caller in callers
    ]
    store.record_batch(EXTENSION, Stream.CALLS, events, now, now)
    return callers


def config_file(
    tmp_path: Path, url: str, api_key: str, receiver: JsonReceiver, store_url: str
) -> Path:
    """On SQLite and on PostgreSQL alike (`store_url`)."""
    return write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": url, "key": api_key, "max_requests_per_s": 1000},
        store={"url": store_url},
        poll={"interval_s": 0.5, "jitter_s": 0.0, "streams": ["calls"]},
        # Every notification on its own (no burst digest): copies are counted per call.
        delivery={"interval_s": 0.2, "timeout_s": 5, "max_per_cycle": 1000},
        log={"level": "info", "format": "json"},
        routes=[{"name": "hook", "events": ["call"], "notify": [receiver.url()]}],
    )


def copies(receiver: JsonReceiver, callers: list[str]) -> Counter[str]:
    """How many notifications each caller's call got (the number is in the message)."""
    seen: Counter[str] = Counter()
    for post in receiver.posts:
        seen.update(c for c in callers if c[-7:-4] + "-" + c[-4:] in post.payload["message"])
    return seen


async def test_rows_another_sender_holds_are_left_to_it_until_its_claim_expires(
    sandbox: RunningSandbox,
    json_receiver: JsonReceiver,
    tmp_path: Path,
    api_key: str,
    now: int,
    store_url: str,
) -> None:
    path = config_file(tmp_path, sandbox.url, api_key, json_receiver, store_url)
    config = load_config(path, {})
    audio = tmp_path / "state" / "audio"
    json_receiver.delay_s = 0.05  # a send takes a while: the second drain comes mid-way
    with (
        Store.open(config.store_url, audio_dir=audio) as one,
        Store.open(config.store_url, audio_dir=audio) as other,
    ):
        callers = seed_missed_calls(one, now, 40)
        first = open_deliverer(config, one, ready_routes(config))
        second = open_deliverer(config, other, ready_routes(config))
        sending = first.dispatch()  # claims every row, sends in the background
        assert len(sending) == len(callers)
        assert (await second.drain()).sent == 0  # all held by the first sender
        await asyncio.gather(*sending)
        assert first.take_report().sent == len(callers)

        # A sender killed mid-way leaves its claims; once they expire, others take over.
        more = seed_missed_calls(one, now + 1, 5)
        first.plan()
        owed = [row.id for row in one.ledger().due(now + 10)]
        assert len(owed) == len(more)
        assert one.ledger().claim(owed, "killed-sender", until=now + 60, now=now) == owed
        assert (await second.drain()).sent == 0  # the dead sender's claims still hold
        assert other.ledger().claim(owed, "rescuer", until=now + 200, now=now + 61) == owed
    assert copies(json_receiver, callers) == Counter({caller: 1 for caller in callers})


async def test_outbox_retry_in_a_loop_beside_the_daemon_sends_nothing_twice(
    sandbox: RunningSandbox,
    json_receiver: JsonReceiver,
    tmp_path: Path,
    api_key: str,
    now: int,
    store_url: str,
) -> None:
    path = config_file(tmp_path, sandbox.url, api_key, json_receiver, store_url)
    config = load_config(path, {})
    json_receiver.delay_s = 0.1  # 200 posts, two at a time: about 10 s of sending
    with Store.open(config.store_url, audio_dir=tmp_path / "state" / "audio") as store:
        callers = seed_missed_calls(store, now, 200)
    daemon = await DaemonProcess(tmp_path / "run.log", "run", "-c", str(path)).start()
    retries = sent_by_retry = 0
    try:
        while len(json_receiver.posts) < len(callers):
            code, out, err = await run_tossd("outbox", "retry", "-c", str(path))
            assert code in (0, 1), err  # 1: something failed to send; never a crash
            retries += 1
            sent_by_retry += int(out.split("notifications: ")[1].split(" sent")[0])
            assert retries < 60, "the 200 notifications did not all go out"
        await wait_until(
            lambda: json_receiver.in_flight == 0, timeout=30, what="the last posts answered"
        )
    finally:
        code, _ = await daemon.terminate(timeout=30)
    assert code == 0, daemon.text()[-3000:]
    # Each retry run started while notifications were still owed (the loop's condition),
    # and between them they and the daemon sent every one exactly once.
    assert retries >= 1 and 0 <= sent_by_retry <= len(callers)
    assert copies(json_receiver, callers) == Counter({caller: 1 for caller in callers})
