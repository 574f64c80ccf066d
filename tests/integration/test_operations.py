"""The daemon as a service: sd_notify, /healthz and /metrics, and self-alerts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tossd.config.load import load_config
from tossd.daemon.database import open_store
from tossd.daemon.operations import Operations
from tossd.daemon.resources import open_deliverer, ready_routes
from tossd.domain import Stream
from tossd.poll.poller import Poller
from tossd.sandbox.server import RunningSandbox


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)
    yield sock
    sock.close()


async def next_datagram(sock: socket.socket, timeout: float = 30) -> str:
    loop = asyncio.get_running_loop()
    return (await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)).decode()


async def wait_for_message(sock: socket.socket, prefix: str, timeout: float = 30) -> list[str]:
    """Every datagram up to and including the first with a line starting with `prefix`."""
    seen: list[str] = []
    async with asyncio.timeout(timeout):
        while not any(line.startswith(prefix) for d in seen for line in d.splitlines()):
            seen.append(await next_datagram(sock))
    return seen


async def test_run_speaks_sd_notify_and_serves_health_and_metrics(
    sandbox: RunningSandbox,
    write_config: Callable[..., Path],
    notify_socket: socket.socket,
    tmp_path: Path,
) -> None:
    port = free_port()
    config = write_config(
        sandbox.url,
        poll={"interval_s": 0.5, "jitter_s": 0},
        health={"listen": f"127.0.0.1:{port}"},
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tossd",
        "run",
        "-c",
        str(config),
        env=env,
        stdout=DEVNULL,
        stderr=PIPE,
    )
    try:
        ready = await wait_for_message(notify_socket, "READY=1")
        status = await wait_for_message(notify_socket, "STATUS=calls")
        watchdog = await wait_for_message(notify_socket, "WATCHDOG=1")
        async with httpx.AsyncClient() as http:
            healthz = await http.get(f"http://127.0.0.1:{port}/healthz")
            metrics = await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        proc.send_signal(signal.SIGTERM)
        stopping = await wait_for_message(notify_socket, "STOPPING=1", timeout=15)
        code = await asyncio.wait_for(proc.wait(), 15)
        assert proc.stderr is not None
        await proc.stderr.read()
    assert code == 0
    assert ready and status and watchdog and stopping
    assert healthz.status_code == 200 and healthz.json()["ok"] is True
    names = {family.name for family in text_string_to_metric_families(metrics.text)}
    assert {"tossd_polls", "tossd_api_requests", "tossd_deliveries", "tossd_ledger_depth"} <= names


async def test_self_alerts_on_failing_stream_and_on_recovery(
    sandbox: RunningSandbox,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    make_client: Callable[..., Any],
) -> None:
    path = tmp_path / "tossd.toml"
    path.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[api]\nurl = "{sandbox.url}"\nkey = "{api_key}"\n'
        "[alerts]\nafter_failures = 2\n"
        f'[[route]]\nname = "ops"\nevents = ["tossd_error"]\nnotify = ["{json_receiver.url()}"]\n'
    )
    config = load_config(path, {})
    with open_store(config) as store:
        async with AsyncExitStack() as stack:
            deliverer = open_deliverer(config, store, ready_routes(config))
            ops = Operations(config, env={})
            await ops.open(stack, store, deliverer)
            poller = Poller(make_client(), store, config.poll)
            await poller.sync_extensions()
            broken = store.active_extensions()[0].extensionid
            sandbox.sandbox.faults.broken_extensions.add(broken)
            for _ in range(3):
                ops.after_poll(await poller.poll_stream(Stream.CALLS))
                ops.after_drain(await deliverer.drain())
            sandbox.sandbox.faults.broken_extensions.clear()
            ops.after_poll(await poller.poll_stream(Stream.CALLS))
            await deliverer.drain()
            ops.key_rejected("Invalid apikey")
            ops.key_rejected("Invalid apikey")
            await deliverer.drain()
    titles = [payload["title"] for payload in json_receiver.payloads]
    assert titles == [
        "tossd: polling calls is failing",
        "tossd: polling calls works again",
        "tossd: the Tossable Digits API key was rejected",
    ]


async def test_dead_deliveries_raise_an_alert(
    sandbox: RunningSandbox,
    json_receiver: Any,
    second_receiver: Any,
    tmp_path: Path,
    api_key: str,
    now: int,
) -> None:
    from tossd.domain import EventKind, NewEvent

    path = tmp_path / "tossd.toml"
    path.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[api]\nurl = "{sandbox.url}"\nkey = "{api_key}"\n'
        "[delivery]\nmax_attempts = 1\n"
        f'[[route]]\nname = "calls"\nevents = ["call"]\nnotify = ["{second_receiver.url()}"]\n'
        f'[[route]]\nname = "ops"\nevents = ["tossd_error"]\nnotify = ["{json_receiver.url()}"]\n'
    )
    config = load_config(path, {})
    second_receiver.down = True
    with open_store(config) as store:
        async with AsyncExitStack() as stack:
            deliverer = open_deliverer(config, store, ready_routes(config))
            ops = Operations(config, env={})
            await ops.open(stack, store, deliverer)
            event = NewEvent(EventKind.CALL, 1, "call:1:1:x", now, True, {"callernum": "+1555"})
            store.record_batch(1, Stream.CALLS, [event], now, now)
            report = await deliverer.drain()
            assert report.dead == 1
            ops.after_drain(report)
            await deliverer.drain()
    assert [p["title"] for p in json_receiver.payloads] == ["tossd: 1 notification(s) given up"]
    assert json.dumps(json_receiver.payloads).count("outbox retry --all") == 1
