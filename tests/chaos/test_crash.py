"""SIGKILL `tossd run` at random moments while activity keeps arriving, then let it drain:
nothing the sandbox produced is lost, and only what was in flight at a kill is repeated."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from chaos_daemon import (
    OPEN_DELIVERIES,
    UNPLANNED,
    VOICEMAILS_WITHOUT_AUDIO,
    daemon_config,
)
from chaos_traffic import (
    LivelyFactory,
    Receiver,
    expected_keys,
    folded_calls,
    folder_keys,
    live_extensions,
    orphan_temps,
    record_figures,
)
from support.cli import DaemonProcess, Spawn
from support.logs import log_records
from support.store import db_count, db_rows, integrity
from support.wait import wait_until

from tossd.sandbox.server import Sandbox
from tossd.sandbox.world import World

KILLS = 20
#: The first run is killed at a random moment of its start (migrations included).
MODES = ("anytime", "poll", "audio", "delivery")
POLL_METHODS = ("callRecords", "extensionVoicemailGet", "smsGet")
LATENCY_MS = 80
#: Fine-grained waits: a request is in flight for LATENCY_MS only.
TICK = 0.005


def polls_served(sandbox: Sandbox) -> int:
    return sum(sandbox.requests[method] for method in POLL_METHODS)


async def strike(
    mode: str,
    n: int,
    rng: random.Random,
    sandbox: Sandbox,
    receiver: Receiver,
    daemon: DaemonProcess,
) -> None:
    """Return at a random moment of the kind `mode` names, for the caller to SIGKILL."""
    world: World = sandbox.world
    if mode == "anytime":
        await asyncio.sleep(rng.uniform(0.2, 3.0))
        return
    if mode == "poll":
        served = polls_served(sandbox)
        await wait_until(
            lambda: polls_served(sandbox) > served,
            timeout=60,
            interval=TICK,
            what="a poll request",
            alive=daemon,
        )
        await asyncio.sleep(rng.uniform(0, LATENCY_MS / 2000))
        return
    if mode == "audio":
        fetched = sandbox.requests["audioclipGet"]
        now = int(time.time())
        world.add_voicemail(
            extensionid=rng.choice(live_extensions(world, now)),
            timestamp=now,
            callernum=f"+1555{n:07d}",
            callername="Chaos Caller",
            length=rng.choice((9, 30, 90)),
        )
        await wait_until(
            lambda: sandbox.requests["audioclipGet"] > fetched,
            timeout=60,
            interval=TICK,
            what="an audio download",
            alive=daemon,
        )
        await asyncio.sleep(rng.uniform(0, LATENCY_MS / 2000))
        return
    receiver.delay_s = rng.uniform(0.5, 1.5)
    await wait_until(
        lambda: receiver.in_flight > 0,
        timeout=60,
        interval=TICK,
        what="a delivery in flight",
        alive=daemon,
    )
    await asyncio.sleep(rng.uniform(0, receiver.delay_s / 2))


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sigkill_at_random_moments_loses_nothing_and_repeats_only_what_was_in_flight(
    lively: LivelyFactory, receiver: Receiver, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    started = time.monotonic()
    rng = random.Random(20240611)
    running, world, clock, faults = await lively(extensions=4, latency_ms=LATENCY_MS)
    sandbox = running.sandbox
    folder = tmp_path / "notifications"
    state = tmp_path / "state"
    db = state / "tossd.db"
    # One send at a time: at most one notification can be in flight when a kill lands.
    config = daemon_config(
        tmp_path,
        running.url,
        api_key,
        [receiver.url(), f"tossd-file://{folder}"],
        delivery={"concurrency": 1},
    )

    kills: Counter[str] = Counter()
    for n in range(KILLS):
        mode = MODES[n % len(MODES)]
        daemon = await spawn(tmp_path / f"run-{n:02d}.log", "run", "-c", str(config))
        await strike(mode, n, rng, sandbox, receiver, daemon)
        code = await daemon.kill()
        assert code == -signal.SIGKILL, (
            f"run {n} ended by itself ({code}):\n{daemon.text()[-3000:]}"
        )
        kills[mode] += 1
        receiver.delay_s = 0

    # Drain: no more activity, no more latency, one daemon left to catch up.
    faults.latency_ms = 0
    clock.freeze()
    world.advance(int(clock()))
    expected = expected_keys(world)
    final = await spawn(tmp_path / "final.log", "run", "-c", str(config))

    def drained() -> bool:
        return (
            set(expected) <= set(receiver.keys())
            and set(expected) <= set(folder_keys(folder))
            and db_count(db, OPEN_DELIVERIES) == 0
            and db_count(db, UNPLANNED) == 0
            and db_count(db, VOICEMAILS_WITHOUT_AUDIO) == 0
        )

    drain_s = await wait_until(drained, timeout=120, what="the final drain", alive=final)
    await wait_until(lambda: receiver.in_flight == 0, timeout=30, what="held posts answered")
    code, stop_s = await final.terminate(timeout=30)
    assert code == 0, final.text()[-3000:]

    by_json, by_file = receiver.keys(), folder_keys(folder)
    lost = (expected - set(by_json)) | (expected - set(by_file))
    phantom = (set(by_json) | set(by_file)) - expected
    duplicates = sum(c - 1 for c in by_json.values()) + sum(c - 1 for c in by_file.values())
    stored = Counter(dict(db_rows(db, "SELECT kind, count(*) FROM events GROUP BY kind") or []))
    audio = db_rows(db, "SELECT filename, size, sha256 FROM audio") or []
    errors = [
        r["event"]
        for log in sorted(tmp_path.glob("*.log"))
        for r in log_records(log)
        if r.get("level") in ("error", "critical")
    ]
    temps = orphan_temps(state / "audio", state)
    folder_temps = orphan_temps(folder)
    record_figures(
        "crash",
        kills=sum(kills.values()),
        kills_by_moment=dict(kills),
        events=len(expected),
        events_by_kind=dict(Counter(k[0] for k in expected)),
        notifications=by_json.total() + by_file.total(),
        losses=len(lost),
        duplicates=duplicates,
        voicemail_audio=len(audio),
        orphan_temps=len(temps),
        folder_target_temps=len(folder_temps),
        error_lines=len(errors),
        drain_s=round(drain_s, 1),
        stop_s=round(stop_s, 2),
        wall_s=round(time.monotonic() - started, 1),
    )

    assert sum(kills.values()) >= 20
    assert not lost, sorted(lost)[:10]
    assert not phantom, sorted(phantom)[:10]
    assert duplicates <= sum(kills.values())
    folded = folded_calls(world)
    assert stored == Counter(k[0] for k in expected | folded)  # every event stored, once
    # Two targets: a row each per event, the folded calls' rows folded, not sent.
    assert db_count(db, "SELECT count(*) FROM deliveries") == 2 * (len(expected) + len(folded))
    assert db_count(db, "SELECT count(*) FROM deliveries WHERE state = 'folded'") == 2 * len(folded)
    assert db_count(db, OPEN_DELIVERIES) == 0
    assert len(audio) == sum(1 for k in expected if k[0] == "voicemail")
    for filename, size, sha256 in audio:
        data = (state / "audio" / filename).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha256
    assert integrity(db) == ("ok", [])
    assert temps == []
    assert errors == []  # restarts after a kill are clean: no job ever failed
    assert stop_s < 10


def catch_a_folder_write(pid: int, folder: Path, within_s: float) -> bool:
    """SIGKILL `pid` while it has a temp file open in `folder`; False if none was caught.

    Freezes the process (SIGSTOP) every few milliseconds and looks: a frozen process cannot
    finish its write, so a temp file seen then is one the kill leaves behind.
    """
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        os.kill(pid, signal.SIGSTOP)
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "T":
            pass
        if orphan_temps(folder):
            os.kill(pid, signal.SIGKILL)
            return True
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.002)
    return False


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_kill_during_a_folder_write_leaves_no_temp_file_after_restart(
    lively: LivelyFactory, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    running, world, _, _ = await lively(activity_every=3600)
    folder, db = tmp_path / "notifications", tmp_path / "state" / "tossd.db"
    config = daemon_config(tmp_path, running.url, api_key, [f"tossd-file://{folder}"])
    daemon = await spawn(tmp_path / "run.log", "run", "-c", str(config))
    await wait_until(
        lambda: db_count(db, "SELECT count(*) FROM poll_state") > 0,
        timeout=60,
        what="the first poll",
        alive=daemon,
    )
    caught = asyncio.ensure_future(asyncio.to_thread(catch_a_folder_write, daemon.pid, folder, 40))
    ext = live_extensions(world, int(time.time()))[0]
    for n in itertools.count():
        if caught.done():
            break
        # Long recordings: each notification copies about 1.2 MB beside its text.
        world.add_voicemail(
            extensionid=ext, timestamp=int(time.time()), callernum=f"+1666{n:07d}", length=600
        )
        await asyncio.sleep(0.25)
    if not await caught:
        pytest.skip("no folder write was caught in progress")
    assert await daemon.wait(30) == -signal.SIGKILL
    left = orphan_temps(folder)
    assert left  # the kill interrupted a write

    again = await spawn(tmp_path / "again.log", "run", "-c", str(config))
    await wait_until(
        lambda: (
            expected_keys(world) <= set(folder_keys(folder)) and db_count(db, OPEN_DELIVERIES) == 0
        ),
        timeout=60,
        what="everything delivered after the restart",
        alive=again,
    )
    code, _ = await again.terminate(timeout=30)
    assert code == 0
    record_figures("folder target kill", temps_left_by_kill=len(left))
    assert orphan_temps(folder) == []
