"""The daemon as a service: sd_notify, /healthz and /metrics, and self-alerts."""

from __future__ import annotations

import asyncio
import io
import json
import signal
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.cli import run_python, start_tossd
from support.config import write_config_file
from support.net import free_port
from support.systemd import FakeSystemd

from tossd.config.load import load_config
from tossd.daemon.database import open_store
from tossd.daemon.health import check_health
from tossd.daemon.leader import leading
from tossd.daemon.operations import Operations
from tossd.daemon.resources import open_deliverer
from tossd.daemon.routes import ready_routes
from tossd.domain import Stream
from tossd.poll.poller import Poller
from tossd.sandbox.server import RunningSandbox


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    """NOTIFY_SOCKET's receiving end, read by this test's event loop (so non-blocking)."""
    fake = FakeSystemd(str(tmp_path / "notify.sock"), timeout=0)
    yield fake
    fake.close()


async def test_run_speaks_sd_notify_and_serves_health_and_metrics(
    sandbox: RunningSandbox,
    write_config: Callable[..., Path],
    systemd: FakeSystemd,
) -> None:
    port = free_port()
    config = write_config(
        sandbox.url,
        poll={"interval_s": 0.5, "jitter_s": 0},
        health={"listen": f"127.0.0.1:{port}"},
    )
    env = {"NOTIFY_SOCKET": systemd.env_value, "WATCHDOG_USEC": "1000000"}
    proc = await start_tossd("run", "-c", str(config), env=env)
    try:
        ready = await systemd.wait_for_message("READY=1")
        status = await systemd.wait_for_message("STATUS=calls")
        watchdog = await systemd.wait_for_message("WATCHDOG=1")
        async with httpx.AsyncClient() as http:
            healthz = await http.get(f"http://127.0.0.1:{port}/healthz")
            metrics = await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        proc.send_signal(signal.SIGTERM)
        stopping = await systemd.wait_for_message("STOPPING=1", timeout=15)
        code = await asyncio.wait_for(proc.wait(), 15)
        assert proc.stderr is not None
        await proc.stderr.read()
    assert code == 0
    assert ready and status and watchdog and stopping
    assert healthz.status_code == 200 and healthz.json()["ok"] is True, healthz.text
    names = {family.name for family in text_string_to_metric_families(metrics.text)}
    assert {"tossd_polls", "tossd_api_requests", "tossd_deliveries", "tossd_ledger_depth"} <= names


async def test_self_alerts_on_failing_stream_and_on_recovery(
    sandbox: RunningSandbox,
    json_receiver: Any,
    tmp_path: Path,
    api_key: str,
    make_client: Callable[..., Any],
) -> None:
    path = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": sandbox.url, "key": api_key},
        alerts={"after_failures": 2},
        routes=[{"name": "ops", "events": ["tossd_error"], "notify": [json_receiver.url()]}],
    )
    config = load_config(path, {})
    with open_store(config) as store:
        async with AsyncExitStack() as stack:
            deliverer = open_deliverer(config, store, ready_routes(config))
            ops = Operations(config, env={})
            await ops.open(stack, store, deliverer)
            poller = Poller(make_client(), store, config.poll)
            await poller.sync_extensions()
            # The account-wide calls query fails three times in a row, then works.
            sandbox.sandbox.faults.force("status_false", times=3, method="callRecords")
            for _ in range(3):
                ops.after_poll(await poller.poll_stream(Stream.CALLS))
                ops.after_drain(await deliverer.drain())
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

    path = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": sandbox.url, "key": api_key},
        delivery={"max_attempts": 1},
        routes=[
            {"name": "calls", "events": ["call"], "notify": [second_receiver.url()]},
            {"name": "ops", "events": ["tossd_error"], "notify": [json_receiver.url()]},
        ],
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


async def test_no_poller_for_three_intervals_alerts_once_and_leadership_shows(
    sandbox: RunningSandbox, json_receiver: Any, tmp_path: Path, api_key: str
) -> None:
    """A lone node leads (`leading`): /metrics says tossd_leader 1, `tossd health` names it.
    Silence beyond three intervals (every leader gone) alerts once, not at every look."""
    port = free_port()
    path = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": sandbox.url, "key": api_key},
        store={"node": "host-a"},
        poll={"interval_s": 10},
        health={"listen": f"127.0.0.1:{port}"},
        routes=[{"name": "ops", "events": ["tossd_error"], "notify": [json_receiver.url()]}],
    )
    config = load_config(path, {})
    with open_store(config) as store:
        async with AsyncExitStack() as stack:
            deliverer = open_deliverer(config, store, ready_routes(config))
            ops = Operations(config, env={})
            await ops.open(stack, store, deliverer)
            leader = await stack.enter_async_context(leading(config, store, ops))
            assert leader.leads()
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            assert 'tossd_leader{node="host-a"} 1.0' in metrics
            for silent_s in (31.0, 45.0, 60.0):  # three looks, one outage
                ops.poller_silent(silent_s, 30.0)
            ops.poller_silent(2.0, 30.0)  # a leader polled again
            await deliverer.drain()
            out = io.StringIO()
            check_health(config, out=out)
    titles = [payload["title"] for payload in json_receiver.payloads]
    assert titles == ["tossd: no node has polled for over 30 s"]
    lines = out.getvalue().splitlines()
    assert any(line.startswith("leader: host-a (term 1, since ") for line in lines), lines
    assert any(line.startswith("node host-a: heartbeat ") for line in lines), lines


def test_without_a_listener_nothing_is_counted_and_prometheus_is_not_loaded(
    tmp_path: Path,
) -> None:
    """/metrics needs `[health] listen`: without it no counter would ever be read."""
    path = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": "http://127.0.0.1:9/apihttp.php", "key": "not-a-real-key"},
    )
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tossd.config.load import load_config\n"
        "from tossd.daemon.operations import Operations\n"
        "ops = Operations(load_config(Path(sys.argv[1]), {}), env={})\n"
        "print(type(ops.metrics).__name__, 'prometheus_client' in sys.modules)\n"
    )
    out = run_python(probe, str(path), check=True).stdout.split()
    assert out == ["Unrecorded", "False"]
