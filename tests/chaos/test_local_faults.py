"""Local faults under a running daemon: a result that cannot be written, a database deleted
or locked by another process, a damaged database at start. Each is a real fault (a full
tmpfs, `rm`, a second process holding the write lock, garbage bytes), never a mock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
import structlog.testing
from aiohttp import web
from chaos_daemon import OPEN_DELIVERIES, daemon_config, fill, remount
from chaos_traffic import LivelyFactory, Receiver, expected_keys, live_extensions
from support.cli import DaemonProcess, Spawn
from support.lag import loop_lag
from support.net import free_port
from support.receivers import serve_json
from support.store import db_count, open_store
from support.wait import wait_until
from test_resources import FIRST_POLL, Mount

from tossd.cli.main import EXIT_CORRUPT
from tossd.config.load import load_config
from tossd.daemon.connections import CONNECTION_DEADLINE_S, MAX_CONNECTIONS
from tossd.daemon.lifecycle import Daemon
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


def with_health_and_alerts(config: Path, port: int, alerts_url: str) -> Path:
    """`config` plus /healthz on `port` and a route for tossd's own alerts."""
    with config.open("a", encoding="utf-8") as file:
        file.write(
            f'[health]\nlisten = "127.0.0.1:{port}"\n[alerts]\nafter_failures = 2\n'
            f'[[route]]\nname = "ops"\nevents = ["tossd_error"]\nnotify = ["{alerts_url}"]\n'
        )
    return config


async def healthz(port: int) -> tuple[int, dict[str, Any]]:
    def get() -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    return await asyncio.to_thread(get)


def titles(receiver: Receiver, words: str) -> list[str]:
    return [str(p.get("title")) for p in receiver.payloads if words in str(p.get("title"))]


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_deleted_database_fails_health_and_raises_one_alert(
    lively: LivelyFactory, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    running, _, _, _ = await lively(activity_every=3600)
    db = tmp_path / "state" / "tossd.db"
    port = free_port()
    async with serve_json(Receiver()) as alerts:
        config = daemon_config(tmp_path, running.url, api_key, [f"tossd-file://{tmp_path}/out"])
        with_health_and_alerts(config, port, alerts.url())
        daemon = await spawn(tmp_path / "run.log", "run", "-c", str(config))
        await wait_until(lambda: db_count(db, FIRST_POLL) > 0, timeout=60, alive=daemon)
        assert (await healthz(port))[0] == 200

        for file in db.parent.glob("tossd.db*"):
            file.unlink()  # `rm state/tossd.db*` under the running daemon
        await wait_until(
            lambda: len(titles(alerts, "database is in trouble")) > 0,
            timeout=60,
            what="the alert about the deleted database",
            alive=daemon,
        )
        status, report = await healthz(port)
        await asyncio.sleep(12)  # more checks, still deleted: no more alerts
        code, _ = await daemon.terminate(timeout=30)

    assert code == 0
    assert status == 503
    assert any("was deleted" in reason for reason in report["reasons"])
    assert len(titles(alerts, "database is in trouble")) == 1
    assert logged(daemon, "store.file_trouble") == 1


def test_the_store_file_says_when_it_turns_read_only_or_is_replaced(
    tmpfs: Mount, tmp_path: Path
) -> None:
    state = tmpfs(tmp_path / "state", "1m")
    store = open_store(state / "tossd.db")
    store_file = store.file()
    store.close()  # a read-only remount needs no file open for writing
    assert store_file is not None
    assert store_file.trouble() is None

    remount(state, "ro")
    assert "read-only" in str(store_file.trouble())
    remount(state, "rw")
    assert store_file.trouble() is None

    (state / "new.db").write_bytes(b"")
    (state / "new.db").replace(state / "tossd.db")
    assert "replaced" in str(store_file.trouble())


@pytest.mark.timeout(60)
async def test_a_damaged_database_exits_with_a_code_the_unit_does_not_restart(
    spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "tossd.db").write_bytes(b"this is not a database, " * 400)
    out = f"tossd-file://{tmp_path}/out"
    config = daemon_config(tmp_path, "http://127.0.0.1:9/apihttp.php", api_key, [out])
    daemon = await spawn(tmp_path / "run.log", "run", "-c", str(config))
    code = await daemon.wait(30)
    last = daemon.text().strip().splitlines()[-1]

    assert code == EXIT_CORRUPT
    assert last.startswith("tossd: to recover,") and "Traceback" not in daemon.text()
    unit = (Path(__file__).parents[2] / "systemd" / "tossd.service").read_text()
    prevent = next(line for line in unit.splitlines() if line.startswith("RestartPreventExit"))
    assert str(EXIT_CORRUPT) in prevent.split("=", 1)[1].split()


LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_database_locked_by_another_process_never_blocks_the_event_loop(
    lively: LivelyFactory, tmp_path: Path, api_key: str
) -> None:
    """The daemon in this process, so its own loop's lag is measured: while another process
    holds the write lock for 15 s, no store call may stop the loop for a second."""
    running, world, clock, _ = await lively(activity_every=1.0)
    db = tmp_path / "state" / "tossd.db"
    async with serve_json(Receiver()) as receiver:
        path = daemon_config(tmp_path, running.url, api_key, [receiver.url()])
        stack = contextlib.ExitStack()
        stop = asyncio.Event()
        # Log lines captured as values, as under systemd (JSON): the console renderer's rich
        # tracebacks cost seconds each, which is the test's terminal, not the daemon.
        logs = stack.enter_context(structlog.testing.capture_logs())
        daemon = asyncio.create_task(Daemon(load_config(path, {})).run(stop))
        try:
            await wait_until(lambda: db_count(db, FIRST_POLL) > 0, timeout=60)
            async with loop_lag() as lags:
                locker = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", LOCKER, str(db), "15", stdout=asyncio.subprocess.PIPE
                )
                assert locker.stdout is not None
                assert await locker.stdout.readline() == b"locked\n"
                assert await locker.wait() == 0
            clock.freeze()  # no more activity: what happened must now all arrive
            await wait_until(
                lambda: set(receiver.keys()) >= expected_keys(world),
                timeout=60,
                what="every event once the lock was let go",
            )
        finally:
            stop.set()
            await asyncio.wait_for(daemon, 30)
            stack.close()

    assert max(lags) < 1.0
    assert max(receiver.keys().values()) == 1
    assert any("database is locked" in str(line.get("error")) for line in logs)
    # A known failure is one line with its message, not a traceback per tick.
    assert not [line for line in logs if line["event"] == "job.failed" and line.get("exc_info")]


@pytest.mark.timeout(90)
async def test_sighup_neither_ends_the_daemon_nor_interrupts_a_delivery(
    lively: LivelyFactory, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    running, world, _, _ = await lively(activity_every=3600)
    db = tmp_path / "state" / "tossd.db"
    async with serve_json(Receiver(delay_s=2.0)) as receiver:  # a send in flight for 2 s
        config = daemon_config(tmp_path, running.url, api_key, [receiver.url()])
        daemon = await spawn(tmp_path / "run.log", "run", "-c", str(config))
        await wait_until(lambda: db_count(db, FIRST_POLL) > 0, timeout=60, alive=daemon)
        send_texts(world, 1)
        await wait_until(lambda: receiver.in_flight > 0, timeout=30, alive=daemon)
        os.kill(daemon.pid, signal.SIGHUP)
        await wait_until(
            lambda: db_count(db, SENT) == 1, timeout=30, what="the send recorded", alive=daemon
        )
        alive_after = daemon.returncode
        code, _ = await daemon.terminate(timeout=30)

    assert alive_after is None
    assert code == 0
    assert len(receiver.posts) == 1


def slow_clients(port: int, n: int) -> list[socket.socket]:
    """`n` connections that each send the start of a request and never finish its headers."""
    clients = []
    for _ in range(n):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        with contextlib.suppress(OSError):  # refused at once once the server is full
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: tossd\r\nX-Slow: a")
        clients.append(client)
    return clients


def closed_by_server(client: socket.socket) -> bool:
    client.settimeout(0.2)
    try:
        return client.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:  # reset: closed too
        return True


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_slow_health_clients_cannot_exhaust_the_daemons_descriptors(
    lively: LivelyFactory, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    running, world, _, _ = await lively(activity_every=3600)
    db = tmp_path / "state" / "tossd.db"
    port = free_port()
    async with serve_json(Receiver()) as receiver, serve_json(Receiver()) as alerts:
        config = daemon_config(tmp_path, running.url, api_key, [receiver.url()])
        with_health_and_alerts(config, port, alerts.url())
        daemon = await spawn(tmp_path / "run.log", "run", "-c", str(config))
        await wait_until(lambda: db_count(db, FIRST_POLL) > 0, timeout=60, alive=daemon)
        assert (await healthz(port))[0] == 200
        fds = Path(f"/proc/{daemon.pid}/fd")
        before = len(list(fds.iterdir()))

        clients = await asyncio.to_thread(slow_clients, port, 300)
        await asyncio.sleep(1)
        during = len(list(fds.iterdir()))
        send_texts(world, 1)  # the daemon still polls, stores and sends meanwhile
        await wait_until(lambda: len(receiver.posts) == 1, timeout=30, alive=daemon)
        await asyncio.sleep(CONNECTION_DEADLINE_S + 1)
        cut = sum(await asyncio.to_thread(lambda: [closed_by_server(c) for c in clients]))
        for client in clients:
            client.close()
        await asyncio.sleep(0.5)
        status, _ = await healthz(port)
        code, _ = await daemon.terminate(timeout=30)

    assert during <= before + MAX_CONNECTIONS + 2
    assert cut == len(clients)  # refused at once, or cut at the deadline
    assert status == 200
    assert code == 0
    assert logged(daemon, "health.connections_full") == 1
