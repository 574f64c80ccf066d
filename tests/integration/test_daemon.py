"""`tossd poll --once` and `tossd run` as subprocesses: kills, restarts, live activity."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from support.cli import RunTossd, start_tossd
from support.logs import parse_records
from support.sandbox import serve_sandbox, served_calls
from support.store import db_count, open_store

from tossd.domain import ACCOUNT, EventKind, Stream
from tossd.sandbox.server import Faults, RunningSandbox
from tossd.sandbox.world import World
from tossd.store.revision import HEAD_REVISION
from tossd.store.store import Store

ANNOUNCED = "SELECT count(*) FROM events WHERE announce"


def stored_calls(store: Store) -> list[tuple[int, int, str]]:
    return [
        (e.extensionid, int(e.payload["startdate"]), str(e.payload["callernum"]))
        for e in store.list_events()
        if e.kind in (EventKind.CALL, EventKind.MISSED_CALL)
    ]


@pytest.mark.parametrize("kill_during", ["callRecords", "audioclipGet"])
async def test_killed_between_fetch_and_commit_loses_nothing(
    kill_during: str,
    sandbox: RunningSandbox,
    write_config: Callable[..., Path],
    run_tossd: RunTossd,
    tmp_path: Path,
    now: int,
) -> None:
    world = sandbox.sandbox.world
    ext = min(i for i, e in world.extensions.items() if e["enddate"] == 0)
    world.add_voicemail(extensionid=ext, timestamp=now - 20, callernum="+15557777")
    sandbox.sandbox.faults.latency_ms = 150
    config = write_config(sandbox.url)

    proc = await start_tossd("poll", "--once", "-c", str(config))
    await asyncio.wait_for(sandbox.sandbox.wait_for(kill_during), 30)
    proc.kill()
    assert await proc.wait() == -signal.SIGKILL

    sandbox.sandbox.faults.latency_ms = 0
    code, _out, err = await run_tossd("poll", "--once", "-c", str(config))
    assert code == 0, err
    with open_store(tmp_path / "state" / "tossd.db") as store:
        calls = stored_calls(store)
        active = {e.extensionid for e in store.active_extensions()}
        assert len(calls) == len(set(calls))
        served_at = int(time.time())
        # A first sight asks for the initial window (900 s) before its first poll.
        state = store.poll_state(ACCOUNT, Stream.CALLS)
        assert state is not None and state.first_polled_at is not None
        since = state.first_polled_at - 900
        assert set(calls) == served_calls(
            world, served_at, active, since=since, until=served_at + 86400
        )
        voicemail = [e for e in store.list_events(kind="voicemail") if e.announce]
        assert voicemail and all(store.audio_for(e.id) is not None for e in voicemail)
        assert store.integrity_check() == "ok"
    assert not list((tmp_path / "state" / "audio").glob(".tmp-*"))


@pytest.fixture
async def lively_sandbox(
    make_world: Callable[..., World], api_key: str
) -> AsyncIterator[RunningSandbox]:
    """A sandbox whose account gets a new call, voicemail or text every second."""
    world = make_world(seed=11, extensions=3, activity_every=1.0)
    async with serve_sandbox(world, api_key=api_key, faults=Faults()) as running:
        yield running


async def test_run_keeps_finding_new_activity_and_stops_on_sigterm(
    lively_sandbox: RunningSandbox,
    write_config: Callable[..., Path],
    run_tossd: RunTossd,
    tmp_path: Path,
    api_key: str,
) -> None:
    config = write_config(
        lively_sandbox.url, poll={"interval_s": 0.3, "jitter_s": 0, "initial_window_s": 0}
    )
    proc = await start_tossd("run", "-c", str(config))
    try:
        announced = await wait_for_announced(
            tmp_path / "state" / "tossd.db", at_least=6, timeout=40
        )
    finally:
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 15)
    assert code == 0
    assert time.monotonic() - stopped_at < 10
    assert announced >= 6
    assert proc.stderr is not None
    log = (await proc.stderr.read()).decode()
    records = parse_records(log, strict=True)
    assert any(r["event"] == "poll.cycle" and r["new"] > 0 for r in records)
    assert any(r["event"] == "daemon.stopped" for r in records)
    assert api_key not in log

    code, out, _ = await run_tossd("events", "--json", "-c", str(config))
    assert code == 0
    identities = [json.loads(line)["identity"] for line in out.splitlines()]
    assert identities and len(identities) == len(set(identities))


async def wait_for_announced(db: Path, *, at_least: int, timeout: float) -> int:
    """Wait until the daemon has recorded `at_least` announced events; the last count read.

    `db_count` reads read-only, not through Store.open: opening the store migrates, which
    takes the write lock the daemon needs. Not migrated yet counts as none.
    """
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = max(0, db_count(db, ANNOUNCED))
        if count >= at_least:
            return count
        await asyncio.sleep(0.2)
    return count


async def test_poll_once_fails_clearly_when_the_api_is_unreachable_or_the_key_wrong(
    sandbox: RunningSandbox,
    write_config: Callable[..., Path],
    run_tossd: RunTossd,
    tmp_path: Path,
) -> None:
    unreachable = write_config("http://127.0.0.1:9/apihttp.php", api={"retries": 0})
    code, _, err = await run_tossd("poll", "--once", "-c", str(unreachable))
    assert code == 69 and "API failed" in err

    config = write_config(sandbox.url)
    config.write_text(config.read_text().replace('key = "', 'key = "wrong-'))
    code, _, err = await run_tossd("poll", "--once", "-c", str(config))
    assert code == 77 and "rejected" in err
    assert "wrong-" not in err


async def test_db_upgrade_creates_a_private_database(
    write_config: Callable[..., Path], run_tossd: RunTossd, tmp_path: Path
) -> None:
    config = write_config("http://127.0.0.1:9/apihttp.php")
    code, out, err = await run_tossd("db", "upgrade", "-c", str(config))
    assert code == 0, err
    assert out == f"created the database at schema {HEAD_REVISION}\n"
    db = tmp_path / "state" / "tossd.db"
    assert db.stat().st_mode & 0o777 == 0o600
    with open_store(db) as store:
        assert store.integrity_check() == "ok"


async def test_run_with_a_rejected_key_stays_up_and_says_so_without_tracebacks(
    sandbox: RunningSandbox, write_config: Callable[..., Path]
) -> None:
    config = write_config(sandbox.url, poll={"interval_s": 0.3, "jitter_s": 0})
    config.write_text(config.read_text().replace('key = "', 'key = "wrong-'))
    proc = await start_tossd("run", "-c", str(config))
    try:
        # Several poll intervals: the key is refused at every extension sync.
        async with asyncio.timeout(30):
            while sandbox.sandbox.requests["extensionList"] < 3:
                await asyncio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 15)
    assert code == 0
    assert proc.stderr is not None
    log = (await proc.stderr.read()).decode()
    records = parse_records(log, strict=True)
    refused = [r for r in records if r["event"] == "extensions.sync_failed"]
    assert refused and all(r.get("key_rejected") for r in refused)
    assert not any(r["event"] == "job.failed" for r in records)
    assert "Traceback" not in log and "wrong-" not in log
