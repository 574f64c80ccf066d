"""SIGTERM while a notification is on its way: it finishes or rolls back, exit 0 within 10 s."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chaos_daemon import (
    OPEN_DELIVERIES,
    daemon_config,
)
from chaos_traffic import (
    LivelyFactory,
    Receiver,
    live_extensions,
    record_figures,
)
from support.cli import DaemonProcess, Spawn
from support.store import db_count, db_rows, integrity
from support.wait import wait_until

CALLER = "+15550000101"
FIRST_POLL = "SELECT count(*) FROM poll_state WHERE last_success_at IS NOT NULL"


async def stop_during_a_delivery(
    lively: LivelyFactory,
    receiver: Receiver,
    spawn: Spawn,
    tmp_path: Path,
    api_key: str,
    delay_s: float,
) -> tuple[DaemonProcess, Path, int, float]:
    """Run the daemon, make one missed call, SIGTERM it while the receiver holds the post."""
    running, world, _, _ = await lively(activity_every=3600)
    db = tmp_path / "state" / "tossd.db"
    # rto: Apprise's own read timeout (4 s) would otherwise end a slow send by itself.
    config = daemon_config(tmp_path, running.url, api_key, [receiver.url() + "?rto=30"])
    daemon = await spawn(tmp_path / "run.log", "run", "-c", str(config))
    await wait_until(
        lambda: db_count(db, FIRST_POLL) > 0, timeout=60, what="the first poll", alive=daemon
    )
    receiver.delay_s = delay_s
    ext = live_extensions(world, int(time.time()))[0]
    world.add_call(extensionid=ext, startdate=int(time.time()), callernum=CALLER, seconds=0)
    await wait_until(
        lambda: receiver.in_flight > 0, timeout=60, what="a delivery in flight", alive=daemon
    )
    code, took = await daemon.terminate(timeout=60)
    return daemon, config, code, took


async def deliver_what_is_owed(
    receiver: Receiver, spawn: Spawn, tmp_path: Path, config: Path
) -> list[tuple[str, int, int, str]]:
    """`tossd poll --once` with a prompt receiver; what the receiver holds for CALLER."""
    receiver.delay_s = 0
    again = await spawn(tmp_path / "again.log", "poll", "--once", "-c", str(config))
    assert await again.wait(60) == 0, again.text()[-3000:]
    await wait_until(lambda: receiver.in_flight == 0, timeout=30, what="held posts answered")
    return [key for key in receiver.keys().elements() if key[3] == CALLER]


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_sigterm_during_a_delivery_lets_it_finish_and_exits_0(
    lively: LivelyFactory, receiver: Receiver, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    daemon, config, code, took = await stop_during_a_delivery(
        lively, receiver, spawn, tmp_path, api_key, delay_s=2.0
    )
    db = tmp_path / "state" / "tossd.db"
    states = db_rows(db, "SELECT state FROM deliveries")
    record_figures("shutdown (2 s delivery)", exit_code=code, exit_s=round(took, 2), rows=states)
    assert code == 0, daemon.text()[-3000:]
    assert took < 10
    assert states == [("sent",)]  # finished within the grace, and recorded
    assert "daemon.stopped" in daemon.text()

    delivered = await deliver_what_is_owed(receiver, spawn, tmp_path, config)
    assert len(delivered) == 1  # finished and recorded: never sent again
    assert db_count(db, OPEN_DELIVERIES) == 0
    assert integrity(db) == ("ok", [])


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_sigterm_during_a_delivery_slower_than_the_grace_rolls_back_within_10_s(
    lively: LivelyFactory, receiver: Receiver, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    daemon, config, code, took = await stop_during_a_delivery(
        lively, receiver, spawn, tmp_path, api_key, delay_s=11.5
    )
    db = tmp_path / "state" / "tossd.db"
    states = db_rows(db, "SELECT state FROM deliveries")
    record_figures("shutdown (11.5 s delivery)", exit_code=code, exit_s=round(took, 2), rows=states)
    assert code == 0, daemon.text()[-3000:]
    assert states in ([("pending",)], [("retrying",)])  # rolled back: still owed

    delivered = await deliver_what_is_owed(receiver, spawn, tmp_path, config)
    # The receiver did get the abandoned post: one repeat, the one that was in flight.
    assert 1 <= len(delivered) <= 2
    assert db_count(db, OPEN_DELIVERIES) == 0
    assert integrity(db) == ("ok", [])
    assert took < 10
