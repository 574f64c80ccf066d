"""Processes started together on a new or outdated database: one migrates, the others wait
for it; none fails (issue #11: `tossd run` beside `tossd events` exited 1, "database is
locked"). Real subprocesses, launched at the same moment."""

from __future__ import annotations

import asyncio
import os
import sys
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.cli import DaemonProcess, run_tossd, start_tossd
from support.config import write_config_file
from support.postgres import PASSWORD
from support.wait import wait_until

from tossd.domain import ListedExtension
from tossd.sandbox.server import RunningSandbox
from tossd.store.engine import sqlite_path
from tossd.store.migrate import upgrade, upgrade_locked
from tossd.store.migration_lock import lock_file, migration_lock
from tossd.store.revision import HEAD_REVISION
from tossd.store.store import Store

ROUNDS = 3
LOCKED = "database is locked"


def versions(url: str) -> list[str]:
    """Every row of alembic_version: one, at head, after any number of migrations."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.exec_driver_sql("SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()


async def migrate_in_child(url: str) -> tuple[int, str]:
    """`python -m tossd.store.migrate`, the URL on stdin, as the daemon runs it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tossd.store.migrate",
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(url.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


@pytest.mark.parametrize("start_at", [None, "0003"], ids=["new", "outdated"])
async def test_two_migrations_at_once_both_succeed_and_migrate_once(
    store_url: str, start_at: str | None
) -> None:
    if start_at is not None:
        upgrade(store_url, start_at)
    for _ in range(ROUNDS if start_at is None else 1):
        results = await asyncio.gather(migrate_in_child(store_url), migrate_in_child(store_url))
        assert results == [(0, ""), (0, "")]
        assert [row[0] for row in versions(store_url)] == [HEAD_REVISION]


def fresh_config(tmp_path: Path, url: str, api_key: str) -> Path:
    tmp_path.mkdir()
    return write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": url, "key": api_key, "max_requests_per_s": 1000},
        poll={"interval_s": 5, "jitter_s": 0.0, "streams": ["calls"]},
        log={"level": "info", "format": "json"},
    )


async def start_all_at_once(state: Path, sandbox_url: str, api_key: str) -> None:
    """One round on a new state dir: the daemon and three commands launched together."""
    config = str(fresh_config(state, sandbox_url, api_key))
    daemon = DaemonProcess(state / "run.log", "run", "-c", config)
    _, *commands = await asyncio.gather(
        daemon.start(),
        run_tossd("events", "-c", config),
        run_tossd("outbox", "-c", config),
        run_tossd("outbox", "retry", "-c", config),
    )
    try:
        for code, out, err in commands:
            assert code == 0, err
            assert LOCKED not in out + err
        await wait_until(
            lambda: daemon.logged("daemon.started"),
            timeout=30,
            what="the daemon's start",
            alive=daemon,
        )
    finally:
        code, _ = await daemon.terminate(timeout=30)
    assert code == 0, daemon.text()[-3000:]
    assert LOCKED not in daemon.text()


async def test_run_beside_events_outbox_and_outbox_retry_on_a_new_state_dir_all_succeed(
    sandbox: RunningSandbox, tmp_path: Path, api_key: str
) -> None:
    for round_ in range(ROUNDS):
        await start_all_at_once(tmp_path / f"round-{round_}", sandbox.url, api_key)


def holds_open(path: Path) -> bool:
    """Whether another process has `path` open (Linux's /proc): it is waiting on the lock."""
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        if fd.parts[2] == str(os.getpid()):
            continue
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:  # a process or descriptor that went away meanwhile
            continue
    return False


def asks_for_advisory_lock(url: str, *, shared: bool) -> bool:
    """Whether a session on the database at `url` has asked for the advisory lock (and is
    waiting: the test holds it)."""
    server, database = url.rsplit("/", 1)
    engine = sa.create_engine(f"{server}/postgres")
    function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock("
    try:
        with engine.connect() as connection:
            query = sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                "AND starts_with(query, :asked)"
            )
            found = connection.execute(query, {"db": database, "asked": f"SELECT {function}"})
            return bool(found.scalar_one())
    finally:
        engine.dispose()


def waits_for_the_lock(url: str, *, shared: bool) -> bool:
    db_file = sqlite_path(url)
    if db_file is not None:
        return holds_open(lock_file(db_file))
    return asks_for_advisory_lock(url, shared=shared)


async def test_a_second_migration_waits_for_the_one_in_progress_then_finds_it_done(
    store_url: str,
) -> None:
    with migration_lock(store_url):  # the test is the first migration, and a slow one
        second = asyncio.create_task(migrate_in_child(store_url))
        await wait_until(
            partial(waits_for_the_lock, store_url, shared=False),
            timeout=30,
            what="the second migration waiting for the first",
        )
        upgrade_locked(store_url)
    assert await second == (0, "")
    assert [row[0] for row in versions(store_url)] == [HEAD_REVISION]


@pytest.mark.parametrize("command", [("events",), ("outbox",)])
async def test_a_reader_on_an_outdated_schema_waits_for_the_migration_in_progress(
    store_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    upgrade(store_url, "0003")  # the previous release's schema, now being migrated
    config = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": "http://127.0.0.1:9/apihttp.php", "key": "k-123456"},
        store={"url": store_url},
    )
    with migration_lock(store_url):
        reader = await start_tossd(*command, "-c", str(config))
        await wait_until(
            partial(waits_for_the_lock, store_url, shared=True),
            timeout=30,
            what="the reader waiting for the migration",
        )
        upgrade_locked(store_url)
    _, err = await asyncio.wait_for(reader.communicate(), 60)
    assert reader.returncode == 0, err.decode()
    assert PASSWORD not in err.decode()


async def test_a_second_daemon_on_one_sqlite_file_is_refused_with_a_clear_message(
    sandbox: RunningSandbox, tmp_path: Path, api_key: str
) -> None:
    """SQLite serves one daemon: two would both poll every number. The second one exits at
    start, naming the first; commands still run beside the daemon, and once it has stopped
    (even killed) a new daemon starts."""
    config = str(fresh_config(tmp_path / "node", sandbox.url, api_key))
    first = await DaemonProcess(tmp_path / "first.log", "run", "-c", config).start()
    try:
        await wait_until(
            lambda: first.logged("daemon.started"),
            timeout=30,
            what="the first daemon's start",
            alive=first,
        )
        code, out, err = await run_tossd("run", "-c", config)
        assert code != 0
        assert f"another tossd daemon (pid {first.pid}) is running on the database" in out + err
        assert "PostgreSQL" in out + err
        code, _, err = await run_tossd("outbox", "retry", "-c", config)
        assert code == 0, err
    finally:
        await first.kill()
    again = await DaemonProcess(tmp_path / "again.log", "run", "-c", config).start()
    try:
        await wait_until(
            lambda: again.logged("daemon.started"),
            timeout=30,
            what="a new daemon's start after the first was killed",
            alive=again,
        )
    finally:
        code, _ = await again.terminate(timeout=30)
    assert code == 0, again.text()[-3000:]


async def test_a_sync_of_the_number_list_beside_another_one_succeeds(
    store_url: str, tmp_path: Path
) -> None:
    """Two nodes starting together both sync the extension list into an empty store (issue
    #17: `UniqueViolation ... pk_extensions`). Made certain here: another node's sync has
    inserted a number and not yet committed when ours inserts it; ours waits for it, then
    skips that row instead of failing."""
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: the second sync begins after the first")
    listed = [ListedExtension(7000 + n, did=f"+1206555{n:04d}", startdate=1) for n in range(5)]
    engine = sa.create_engine(store_url)
    with Store.open(store_url, audio_dir=tmp_path / "audio") as store:
        try:
            with engine.connect() as other:
                transaction = other.begin()
                other.execute(
                    sa.text(
                        "INSERT INTO extensions VALUES "
                        "(7000, '+12065550000', '', '', 1, 0, 5, 5, true)"
                    )
                )
                ours = asyncio.ensure_future(
                    asyncio.to_thread(store.sync_extensions, listed, 1_800_000_000)
                )
                await wait_until(
                    lambda: waits_on_a_lock(engine), timeout=10, what="our sync waiting"
                )
                transaction.commit()
                synced = await ours
        finally:
            engine.dispose()
        assert [e.extensionid for e in store.active_extensions()] == [n.extensionid for n in listed]
    # 7000 was active already when our sync read it (the other sync committed it so).
    assert synced.added == [7001, 7002, 7003, 7004]


def waits_on_a_lock(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        return bool(connection.exec_driver_sql(query).scalar())
