"""A target that accepts and never answers slows no other target, and loses nothing.

A blackhole SMTP server (accepts the TCP connection, never says a word) and a real json://
receiver take the same notifications. The receiver gets its copies while the mail sends are
still hanging; the blackhole's rows wait behind its breaker (one log line, one probe at a
time, threads bounded); once a real SMTP server answers on the same address every owed mail
arrives exactly once.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from structlog.testing import capture_logs
from support.receivers import Blackhole, JsonReceiver
from support.sandbox import first_active
from support.wait import wait_until

from tossd.config.model import Config
from tossd.daemon.lifecycle import Daemon
from tossd.daemon.resources import open_deliverer
from tossd.daemon.routes import ready_routes
from tossd.domain import DeliveryState, EventKind, NewEvent, Stream
from tossd.notify.lanes import PER_TARGET_CONCURRENCY
from tossd.sandbox.server import RunningSandbox
from tossd.store.store import Store

CALLERS = [f"+1206555{n:04d}" for n in range(101, 107)]
EXTENSION = 10001


class Mailbox:
    def __init__(self) -> None:
        self.subjects: list[str] = []
        self.bodies: list[str] = []

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        self.subjects.append(str(message["subject"]))
        self.bodies.append(str(message))
        return "250 OK"


def config_for(tmp_path: Path, mail_port: int, receiver: JsonReceiver) -> Config:
    mail = f"mailto://127.0.0.1:{mail_port}?from=tossd@example.com&to=you@example.com"
    data: dict[str, Any] = {
        "state_dir": str(tmp_path / "state"),
        "api": {"url": "http://127.0.0.1:9/apihttp.php", "key": "unused"},
        # A 2 s deadline and short retry steps: the test sees minutes of behaviour in seconds.
        # One message per row (no burst digest): the tests count posts per call.
        "delivery": {
            "timeout_s": 2.0,
            "backoff_s": 1.0,
            "max_backoff_s": 2.0,
            "max_per_cycle": 1000,
        },
        "route": [
            {"name": "mail", "events": ["call"], "notify": [mail + "&mode=insecure"]},
            {"name": "hook", "events": ["call"], "notify": [receiver.url()]},
        ],
    }
    return Config.model_validate(data, context={"env": {}})


def seed_missed_calls(store: Store, now: int, callers: list[str] = CALLERS) -> None:
    events = [
        NewEvent(
            EventKind.MISSED_CALL,
            EXTENSION,
            f"call:{EXTENSION}:{now + n}:{caller}",
            now + n,
            True,
            {"callernum": caller, "callername": "", "seconds": 0, "startdate": now + n},
        )
        for n, caller in enumerate(callers)
    ]
    store.record_batch(EXTENSION, Stream.CALLS, events, now, now)


def send_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "tossd-send")


def mail_rows(store: Store) -> list[Any]:
    return [row for row in store.ledger().listing(limit=100) if row.route == "mail"]


async def test_a_hung_target_slows_no_other_and_gets_everything_once_it_answers(
    blackhole: Blackhole, json_receiver: JsonReceiver, tmp_path: Path, now: int
) -> None:
    port = await blackhole.start()
    config = config_for(tmp_path, port, json_receiver)
    with (
        Store.open(config.store_url, audio_dir=tmp_path / "state" / "audio") as store,
        capture_logs() as logs,
    ):
        seed_missed_calls(store, now)
        deliverer = open_deliverer(config, store, ready_routes(config))

        started = deliverer.dispatch()
        assert len(started) == 2 * len(CALLERS)
        await json_receiver.wait_for(len(CALLERS), timeout=5)
        # Every json copy is there while no mail send has come back from the blackhole yet.
        assert [row.attempts for row in mail_rows(store)] == [0] * len(CALLERS)

        async def tick_until(done: Any, timeout: float, what: str) -> None:
            async def ticked() -> bool:
                deliverer.dispatch()  # what the daemon's delivery job does every interval
                return bool(done())

            await wait_until(ticked, timeout=timeout, interval=0.2, what=what)

        def breaker_opened() -> bool:
            return any(r["event"] == "delivery.target_down" for r in logs)

        await tick_until(breaker_opened, 15, "the mail target's breaker to open")
        assert blackhole.accepted >= 1  # the mail sends did reach it, and hung there
        attempts_when_opened = sum(row.attempts for row in mail_rows(store))
        await tick_until(
            lambda: sum(r.attempts for r in mail_rows(store)) >= attempts_when_opened + 2,
            20,
            "two probes",
        )
        # Behind the open breaker only probes go: a few attempts, not one per row per tick.
        assert sum(row.attempts for row in mail_rows(store)) <= attempts_when_opened + 3
        # Abandoned sends end at Apprise's socket timeout; the lane starts no new one while
        # two are still out, so a hung target holds at most its slots and two stragglers.
        assert send_threads() <= 2 * PER_TARGET_CONCURRENCY
        assert [r["event"] for r in logs].count("delivery.target_down") == 1
        assert all(row.state is not DeliveryState.DEAD for row in mail_rows(store))
        assert len(json_receiver.posts) == len(CALLERS)  # nothing sent twice meanwhile

        await blackhole.stop()
        mailbox = Mailbox()
        smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
        await asyncio.to_thread(smtp.start)
        try:
            await tick_until(
                lambda: all(row.state is DeliveryState.SENT for row in mail_rows(store)),
                30,
                "every owed mail to be sent",
            )
        finally:
            await asyncio.to_thread(smtp.stop)
        await deliverer.settle(5)

    assert len(mailbox.subjects) == len(CALLERS)
    for caller in CALLERS:
        local = caller[-4:]
        assert sum(local in body for body in mailbox.bodies) == 1, caller
    assert [r["event"] for r in logs].count("delivery.target_up") == 1
    assert len(json_receiver.posts) == len(CALLERS)


async def test_a_backlog_behind_an_open_breaker_hides_no_new_row_of_another_target(
    blackhole: Blackhole, json_receiver: JsonReceiver, tmp_path: Path, now: int
) -> None:
    """More rows owed to the hung target than one dispatch reads: they wait behind its
    breaker, and a later call's row for the healthy target is still read and sent."""
    port = await blackhole.start()
    config = config_for(tmp_path, port, json_receiver)
    backlog = [f"+1206555{n:04d}" for n in range(250)]  # more than Ledger.due's 200
    with (
        Store.open(config.store_url, audio_dir=tmp_path / "state" / "audio") as store,
        capture_logs() as logs,
    ):
        seed_missed_calls(store, now, backlog)
        deliverer = open_deliverer(config, store, ready_routes(config))

        async def ticked(count: int) -> bool:
            deliverer.dispatch()  # what the daemon's delivery job does every interval
            opened = any(r["event"] == "delivery.target_down" for r in logs)
            return opened and len(json_receiver.posts) >= count

        await wait_until(lambda: ticked(len(backlog)), timeout=60, interval=0.2, what="backlog")
        seed_missed_calls(store, now + 600, ["+12065559999"])
        await wait_until(lambda: ticked(len(backlog) + 1), timeout=10, what="the new call")
        await deliverer.settle(5)
    assert "206-555-9999" in json_receiver.bodies[-1]
    assert all(row.state is not DeliveryState.SENT for row in mail_rows(store))


async def test_the_daemon_polls_on_time_and_delivers_while_a_target_hangs(
    blackhole: Blackhole,
    json_receiver: JsonReceiver,
    sandbox: RunningSandbox,
    tmp_path: Path,
    api_key: str,
) -> None:
    """`tossd run` with a hung mail target: no poll waits, json gets each call."""
    port = await blackhole.start()
    data = config_for(tmp_path, port, json_receiver).model_dump(mode="python")
    data["api"] = {"url": sandbox.url, "key": api_key, "max_requests_per_s": 1000.0}
    data["poll"] = {"interval_s": 0.3, "jitter_s": 0.0, "streams": ["calls"]}
    data["delivery"] |= {"interval_s": 0.3, "timeout_s": 5.0}  # sends hang for 5 s each
    for route in data["route"]:
        route["notify"] = [url.get_secret_value() for url in route["notify"]]
    config = Config.model_validate(data, context={"env": {}})
    world = sandbox.sandbox.world
    stop = asyncio.Event()
    with capture_logs() as logs:
        daemon = asyncio.create_task(Daemon(config).run(stop))
        try:
            await wait_until(
                lambda: any(r["event"] == "poll.cycle" for r in logs), timeout=20, what="a poll"
            )
            for n, caller in enumerate(CALLERS):
                now = int(time.time())
                ext = first_active(world, now)
                world.add_call(extensionid=ext, startdate=now, callernum=caller, seconds=0)
                await json_receiver.wait_for(n + 1, timeout=10)
        finally:
            stop.set()
            await daemon
    cycles = [r for r in logs if r["event"] == "poll.cycle"]
    assert len(cycles) >= len(CALLERS)
    # Mail sends hung for 5 s each the whole time, yet no poll cycle waited for one: each
    # finished in less than one hung send. (A cycle may still overrun the 0.3 s interval on a
    # loaded machine; APScheduler then skips a tick, which is load, not waiting on a send.)
    assert blackhole.accepted >= 1
    assert max(r["duration_s"] for r in cycles) < 5.0
    for caller in CALLERS:  # each call announced exactly once
        shown = f"Missed call from +1 206-555-{caller[-4:]}"
        assert sum(shown in p.payload["title"] for p in json_receiver.posts) == 1
