"""Local faults under a running daemon: a result that cannot be written, a database deleted
or locked by another process, a damaged database at start. Each is a real fault (a full
tmpfs, `rm`, a second process holding the write lock, garbage bytes), never a mock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from chaos_daemon import OPEN_DELIVERIES, daemon_config, fill
from chaos_traffic import LivelyFactory, Receiver, expected_keys, live_extensions
from support.cli import DaemonProcess, Spawn
from support.receivers import serve_json
from support.store import db_count
from support.wait import wait_until
from test_resources import FIRST_POLL, Mount

from tossd.sandbox.world import World

SENT = "SELECT count(*) FROM deliveries WHERE state = 'sent'"


def send_texts(world: World, n: int) -> None:
    now = int(time.time())
    extension = world.extensions[live_extensions(world, now)[0]]
    for i in range(n):
        world.add_sms(did=extension["did"], timestamp=now - i, peer=f"+1555000030{i}", message="hi")


@dataclass
class FillingReceiver(Receiver):
    """Accepts every notification; the first one also fills the daemon's disk, so that the
    daemon learns the send succeeded exactly when it can no longer write that down."""

    state: Path | None = None
    filler: Path | None = None

    async def handle(self, request: web.Request) -> web.Response:
        if self.state is not None and self.filler is None:
            self.filler = fill(self.state)
        return await super().handle(request)


def logged(daemon: DaemonProcess, event: str) -> int:
    return sum(1 for r in daemon.records() if r["event"] == event)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_send_whose_result_cannot_be_written_is_held_not_sent_again(
    lively: LivelyFactory, tmpfs: Mount, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    running, world, _, _ = await lively(activity_every=3600)
    state = tmpfs(tmp_path / "state", "8m")
    db = state / "tossd.db"
    async with serve_json(FillingReceiver(state=state)) as receiver:
        config = daemon_config(
            tmp_path,
            running.url,
            api_key,
            [receiver.url()],
            # A short claim (timeout + 6 s): before, the row was sent again once it expired.
            delivery={"timeout_s": 2, "concurrency": 1},
        )
        daemon = await spawn(tmp_path / "run.log", "run", "-c", str(config))
        await wait_until(lambda: db_count(db, FIRST_POLL) > 0, timeout=60, alive=daemon)
        send_texts(world, 3)
        await wait_until(
            lambda: receiver.filler is not None, timeout=60, what="the first send", alive=daemon
        )
        await asyncio.sleep(12)  # longer than the claim: nothing may go out meanwhile
        held = receiver.keys()
        assert receiver.filler is not None
        receiver.filler.unlink()  # space returns
        await wait_until(
            lambda: (
                set(receiver.keys()) >= expected_keys(world) and db_count(db, OPEN_DELIVERIES) == 0
            ),
            timeout=60,
            what="every text delivered once space returned",
            alive=daemon,
        )
        code, _ = await daemon.terminate(timeout=30)

    assert code == 0
    assert sum(held.values()) == 1  # the sends waited for the first result to be written
    assert max(receiver.keys().values()) == 1  # and none was sent twice
    assert logged(daemon, "delivery.unrecorded") >= 1
    assert logged(daemon, "delivery.recorded_late") >= 1
    assert db_count(db, SENT) == 3
