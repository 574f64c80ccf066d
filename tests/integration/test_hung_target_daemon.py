"""`tossd run` with a blackhole SMTP server beside a json:// receiver, on one route and on two.

The daemon polls the sandbox at a short interval while calls come in: every poll cycle is
shorter than one hung send (polling never waits on a send), the receiver gets every call
once, the daemon's threads stay bounded, and the mail rows stay owed. Then a real SMTP server
takes the blackhole's address, `tossd outbox retry --all` runs beside the daemon, and every
mail arrives exactly once. (bench/isolation.py runs this for minutes and prints the figures:
latency with and without the blackhole, threads and RSS.)
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.cli import DaemonProcess, run_tossd
from support.config import write_config_file
from support.receivers import Blackhole, JsonReceiver, serve_smtp
from support.sandbox import first_active
from support.store import db_rows
from support.wait import wait_until

from tossd.notify.lanes import PER_TARGET_CONCURRENCY
from tossd.sandbox.server import RunningSandbox

CALLS = 12
#: A hung send is given up after this long ([delivery] timeout_s).
DEADLINE_S = 2.0
INTERVAL_S = 0.5


def routes(layout: str, mail: str, hook: str) -> list[dict[str, Any]]:
    if layout == "one route":
        return [{"name": "all", "events": ["call"], "notify": [mail, hook]}]
    return [
        {"name": "mail", "events": ["call"], "notify": [mail]},
        {"name": "hook", "events": ["call"], "notify": [hook]},
    ]


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no thread count for {pid}")


def mail_states(db: Path, layout: str) -> Counter[str]:
    """The states of the mail target's rows (the first target of route `all` or `mail`)."""
    route = "all" if layout == "one route" else "mail"
    sql = "SELECT state FROM deliveries WHERE route = ? AND target = 'notify[0]'"
    return Counter(state for (state,) in db_rows(db, sql, (route,)) or [])


def caller(n: int) -> str:
    return f"+1206555{n:04d}"


def shown(n: int) -> str:
    return f"from +1 206-555-{n:04d}"


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("layout", ["one route", "two routes"])
async def test_a_blackhole_beside_a_receiver_under_tossd_run(
    layout: str,
    blackhole: Blackhole,
    json_receiver: JsonReceiver,
    sandbox: RunningSandbox,
    tmp_path: Path,
    api_key: str,
) -> None:
    port = await blackhole.start()
    # cto: Apprise's own socket timeout, here the deadline's, so a hung send's thread ends
    # with it (left at Apprise's 15 s, threads held by past probes add up for 15 s).
    query = "from=tossd@example.com&to=you@example.com&mode=insecure&cto=2"
    mail = f"mailto://127.0.0.1:{port}?{query}"
    path = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": sandbox.url, "key": api_key, "max_requests_per_s": 1000},
        poll={"interval_s": INTERVAL_S, "jitter_s": 0.0, "streams": ["calls"]},
        delivery={
            "interval_s": INTERVAL_S,
            "timeout_s": DEADLINE_S,
            "backoff_s": 1.0,
            "max_backoff_s": 4.0,
        },
        log={"level": "debug", "format": "json"},
        routes=routes(layout, mail, json_receiver.url()),
    )
    world = sandbox.sandbox.world
    daemon = await DaemonProcess(tmp_path / "run.log", "run", "-c", str(path)).start()
    try:
        await wait_until(
            lambda: daemon.logged("poll.cycle"),
            timeout=120,  # the place index is built first, once per test session
            what="the first poll",
            alive=daemon,
        )
        threads = []
        for n in range(CALLS):
            now = int(time.time())
            ext = first_active(world, now)
            world.add_call(extensionid=ext, startdate=now, callernum=caller(n), seconds=0)
            await json_receiver.wait_for(n + 1, timeout=20)
            threads.append(threads_of(daemon.pid))
        assert blackhole.accepted >= 1  # the mail sends reached it and hung there
        owed = mail_states(tmp_path / "state" / "tossd.db", layout)
        assert set(owed) <= {"pending", "retrying", "dead"} and owed.total() == CALLS, owed

        await blackhole.stop()
        async with serve_smtp(port) as smtp:
            code, _out, err = await run_tossd("outbox", "retry", "--all", "-c", str(path))
            assert code in (0, 1), err  # 1: some sends of its own failed; never a crash
            await wait_until(
                lambda: mail_states(tmp_path / "state" / "tossd.db", layout) == {"sent": CALLS},
                timeout=60,
                what="every owed mail sent",
                alive=daemon,
            )
            await wait_until(
                lambda: len(smtp.messages) >= CALLS, timeout=10, what="the mails arrived"
            )
            mails = [str(m) for m in smtp.messages]
    finally:
        code, _ = await daemon.terminate(timeout=30)
    assert code == 0, daemon.text()[-3000:]

    records = daemon.records()
    cycles = [r for r in records if r["event"] == "poll.cycle"]
    # No poll waited for a send: each cycle took less than one hung send.
    assert max(r["duration_s"] for r in cycles) < DEADLINE_S
    assert not [r for r in records if r["event"] == "job.failed"]
    # One line when the target went down, not one per row; one when it came back.
    events = [r["event"] for r in records]
    assert events.count("delivery.target_down") >= 1
    assert events.count("delivery.target_down") <= events.count("delivery.target_up") + 1
    # Threads stay bounded with the target hung: the hung lane's sends and at most as many
    # abandoned ones, and the healthy lane's sends (threads are reused, not one per row).
    assert max(threads) <= threads[0] + 3 * PER_TARGET_CONCURRENCY, threads
    for n in range(CALLS):  # each call told once to each target
        assert sum(shown(n) in p.payload["title"] for p in json_receiver.posts) == 1, n
        assert sum(shown(n) in m for m in mails) == 1, n
    assert len(mails) == CALLS
