"""Three `tossd run` on one PostgreSQL store and one lively sandbox: one polls, all deliver,
and the poll duty survives its leader's death (kill -9), its database session ended
(`pg_terminate_backend`) and its freeze (SIGSTOP for 25 s, then SIGCONT), while
`tossd outbox retry` runs beside them. Nothing is lost; a notification is repeated at most
once per crash; the sandbox never sees two nodes polling at once; failover times printed."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from chaos_daemon import OPEN_DELIVERIES, UNPLANNED, daemon_config
from chaos_traffic import LivelyFactory, Receiver, expected_keys, record_figures
from prometheus_client.parser import text_string_to_metric_families
from support.cli import DaemonProcess, Spawn, run_tossd
from support.net import free_port
from support.postgres import fresh_database
from support.wait import wait_until

from tossd.sandbox.arrivals import Arrival
from tossd.sandbox.server import Sandbox

NODES = ("a", "b", "c")
#: Requests only the poll leader makes (deliveries never call the API).
POLL_METHODS = frozenset(
    {"extensionList", "callRecords", "smsGet", "extensionVoicemailGet", "audioclipGet"}
)
FREEZE_S = 25.0
STEADY_S = 8.0


def node_config(
    tmp_path: Path, name: str, sandbox_url: str, api_key: str, db: str, to: str, port: int
) -> Path:
    home = tmp_path / name
    home.mkdir()
    return daemon_config(
        home,
        sandbox_url,
        api_key,
        [to],
        poll={"interval_s": 1},
        store={"url": db, "node": name},
        health={"listen": f"127.0.0.1:{port}"},
    )


def polls(sandbox: Sandbox, since: float = float("-inf")) -> list[Arrival]:
    return [a for a in sandbox.arrivals.log if a.method in POLL_METHODS and a.at >= since]


def poller_since(sandbox: Sandbox, since: float) -> str | None:
    """The first node to poll at or after `since` (monotonic), if any has."""
    found = polls(sandbox, since)
    return found[0].node if found else None


def handovers(arrivals: list[Arrival]) -> list[float]:
    """The quiet gap (s) at each change of polling node. A new leader waits out its
    predecessor's trust (2 s) before polling, so a short gap (or a node's request between
    another's) means two nodes polled at once."""
    return [
        round(later.at - earlier.at, 2)
        for earlier, later in itertools.pairwise(arrivals)
        if later.node != earlier.node
    ]


#: A handover quicker than this is two nodes polling at once.
OVERLAP_BELOW_S = 1.0


def scalar(url: str, sql: str) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql(sql).scalar()
    finally:
        engine.dispose()


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(sql)]
    finally:
        engine.dispose()


async def failover(
    sandbox: Sandbox, old: str, at: float, alive: DaemonProcess, what: str
) -> tuple[str, float]:
    """Wait for a node other than `old` to poll after `at`: (that node, seconds taken)."""

    def other() -> bool:
        return any(a.node != old for a in polls(sandbox, at))

    await wait_until(other, timeout=60, interval=0.02, what=what, alive=alive)
    first = next(a for a in polls(sandbox, at) if a.node != old)
    return first.node, round(first.at - at, 2)


async def leader_now(sandbox: Sandbox) -> str:
    """The node polling now (it polls every second)."""
    start = time.monotonic()
    await wait_until(lambda: bool(polls(sandbox, start)), timeout=30, what="a poll")
    return polls(sandbox, start)[-1].node


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_three_nodes_one_poller_failover_without_loss_or_duplicates(
    lively: LivelyFactory,
    receiver: Receiver,
    spawn: Spawn,
    tmp_path: Path,
    api_key: str,
    postgres_server: str,
) -> None:
    started = time.monotonic()
    db = fresh_database(postgres_server, f"tossd_ha_{uuid.uuid4().hex[:10]}")
    running, world, clock, _faults = await lively(extensions=3, latency_ms=20)
    sandbox = running.sandbox
    ports = {name: free_port() for name in NODES}
    configs = {
        name: node_config(tmp_path, name, running.url, api_key, db, receiver.url(), ports[name])
        for name in NODES
    }
    daemons: dict[str, DaemonProcess] = {}

    async def start(name: str, log: str) -> DaemonProcess:
        daemons[name] = await spawn(tmp_path / f"{log}.log", "run", "-c", str(configs[name]))
        return daemons[name]

    # Two nodes started at the same moment on an empty database: one migrates, both run.
    await asyncio.gather(start("a", "a-0"), start("b", "b-0"))
    await start("c", "c-0")
    for daemon in daemons.values():
        await wait_until(
            lambda d=daemon: d.logged("daemon.started"),
            timeout=60,
            what="a node's start",
            alive=daemon,
        )
    await asyncio.sleep(STEADY_S)  # steady state: activity arrives, one node polls
    crashes, times = 0, {}

    # 1. kill -9 of the leader.
    leader = await leader_now(sandbox)
    at = time.monotonic()
    await daemons[leader].kill()
    crashes += 1
    new, times["kill_9_s"] = await failover(sandbox, leader, at, daemons[_other(leader)], "kill")
    await start(leader, f"{leader}-1")
    await asyncio.sleep(STEADY_S)

    # 2. The leader's database session ended under it.
    leader = await leader_now(sandbox)
    at = time.monotonic()
    scalar(db, "SELECT pg_terminate_backend(session::int) FROM leadership WHERE duty = 'poll'")
    crashes += 1
    new, times["terminated_session_s"] = await failover(
        sandbox, leader, at, daemons[_other(leader)], "a poll after the leader's session ended"
    )
    await asyncio.sleep(STEADY_S)

    # 3. The leader frozen for 25 s, then thawed: a standby takes over; the thawed one stands by.
    leader = await leader_now(sandbox)
    at = time.monotonic()
    os.kill(daemons[leader].pid, signal.SIGSTOP)
    crashes += 1
    new, times["sigstop_s"] = await failover(
        sandbox, leader, at, daemons[_other(leader)], "a poll while the leader is frozen"
    )
    await asyncio.sleep(max(0.0, FREEZE_S - (time.monotonic() - at)))
    thawed = time.monotonic()
    os.kill(daemons[leader].pid, signal.SIGCONT)

    # 4. `tossd outbox retry` while the nodes deliver.
    for _ in range(3):
        code, _out, err = await run_tossd("outbox", "retry", "-c", str(configs[new]))
        assert code == 0, err
    await asyncio.sleep(STEADY_S)
    after_thaw = [a.method for a in polls(sandbox, thawed) if a.node == leader]

    # Drain: activity stops; every node stays up until nothing is owed.
    clock.freeze()
    world.advance(int(clock()))
    expected = expected_keys(world)

    def drained() -> bool:
        return (
            set(expected) <= set(receiver.keys())
            and scalar(db, OPEN_DELIVERIES) == 0
            and scalar(db, UNPLANNED) == 0
        )

    drain_s = await wait_until(drained, timeout=120, what="the final drain")
    await wait_until(lambda: receiver.in_flight == 0, timeout=30, what="posts answered")
    # Each node's /metrics: exactly one says it leads; `tossd health` names it.
    leading_now = {name: await leader_metric(ports[name], name) for name in NODES}
    code, health, _ = await run_tossd("health", "-c", str(configs["a"]))
    stops = [await d.terminate(timeout=30) for d in daemons.values() if d.returncode is None]

    got = receiver.keys()
    lost = expected - set(got)
    duplicates = sum(count - 1 for count in got.values())
    all_polls = polls(sandbox)
    gaps = handovers(all_polls)
    by_node = Counter(a.node for a in all_polls)
    downloads = Counter(a.node for a in all_polls if a.method == "audioclipGet")
    # A node holding a recording it never downloaded copied it from the database to send it.
    copied = {
        name: len(list((tmp_path / name / "state" / "audio").glob("*.mp3"))) - downloads[name]
        for name in NODES
    }
    senders = Counter(
        d.log_path.stem[0]
        for d in daemons.values()
        for r in d.records()
        if r.get("event") == "delivery.sent"
    )
    record_figures(
        "ha",
        failover_s=times,
        crashes=crashes,
        events=len(expected),
        notifications=got.total(),
        losses=len(lost),
        duplicates=duplicates,
        polls_by_node=dict(by_node),
        handover_gaps_s=gaps,
        polls_after_thaw=after_thaw,
        recordings_copied_from_db=copied,
        deliveries_by_node=dict(senders),
        drain_s=round(drain_s, 1),
        wall_s=round(time.monotonic() - started, 1),
    )
    print(f"ha figures: failover {times}, losses {len(lost)}, duplicates {duplicates}")

    assert all(code == 0 for code, _ in stops)
    assert sorted(leading_now.values()) == [0.0, 0.0, 1.0], leading_now
    [leader_name] = [name for name, value in leading_now.items() if value == 1.0]
    assert f"leader: {leader_name} (term " in health, health
    assert all(f"node {name}: heartbeat" in health for name in NODES), health
    assert not lost, sorted(lost)[:10]
    assert duplicates <= crashes
    assert [gap for gap in gaps if gap < OVERLAP_BELOW_S] == []
    assert times["kill_9_s"] <= 5.0
    assert times["terminated_session_s"] <= 5.0
    # Every copy of a recording, on whichever node, is the bytes the store recorded (which
    # node sends a voicemail is timing: tests/integration/test_shared_audio.py shows the copy
    # from the database deterministically; `recordings_copied_from_db` counts it here).
    recorded = dict(rows(db, "SELECT filename, sha256 FROM audio"))
    for name in NODES:
        for copy in (tmp_path / name / "state" / "audio").glob("*.mp3"):
            assert hashlib.sha256(copy.read_bytes()).hexdigest() == recorded[copy.name]


async def leader_metric(port: int, node: str) -> float:
    """`tossd_leader{node}` as the node's /metrics says it."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tossd_leader" and sample.labels.get("node") == node:
                return float(sample.value)
    raise AssertionError(f"no tossd_leader for {node} in /metrics")


def _other(node: str) -> str:
    """Some node still running while `node` is down, for `alive=` in the waits."""
    return next(name for name in NODES if name != node)
