"""A few hundred poll cycles against a sandbox that fails, hangs and garbles on purpose, with a
receiver that fails 30 % of the time: the daemon never exits, its memory stays flat, each
failure is logged once with its context, and every event is delivered in the end."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
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
    record_figures,
)
from support.cli import Spawn
from support.store import db_count, integrity
from support.wait import wait_until

CYCLES = 300
WARM_UP_CYCLES = 30
MIB = 1024 * 1024
#: Memory may wobble (allocator arenas, caches filling); a leak grows with every cycle.
RSS_DRIFT_LIMIT = 24 * MIB
STREAM_METHOD = {"calls": "callRecords", "voicemail": "extensionVoicemailGet", "sms": "smsGet"}
#: What the poller asks; other jobs' requests (a nightly report...) are not counted here.
POLLER_METHODS = {*STREAM_METHOD.values(), "extensionList", "audioclipGet"}
#: The context each kind of failure line must carry.
CONTEXT = {
    "api.retry": ("method", "attempt", "error", "delay_s"),
    "poll.failed": ("stream", "extensionid", "error", "error_type", "consecutive_failures"),
    "audio.failed": ("event_id", "clipid", "error", "attempts"),
    # What failed, said by tossd's own message (a known failure) or a traceback.
    "job.failed": ("job",),
    "delivery.failed": ("ids", "route", "target", "error", "attempts"),
}


def failed_method(record: dict[str, Any]) -> str:
    """The API method whose failure a log line reports ("?": not one of the poller's)."""
    event = record["event"]
    if event == "api.retry":
        return str(record["method"])
    if event == "poll.failed":
        return STREAM_METHOD[record["stream"]]
    if event == "audio.failed":
        return "audioclipGet"
    syncing = str(record.get("job", "")).startswith("poll.")
    said = str(record.get("error", "")) + str(record.get("exception", ""))
    return (
        "extensionList"
        if syncing and ("extensionList" in said or "extension_list" in said)
        else "?"
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_fault_soak_never_exits_stays_flat_and_delivers_everything(
    lively: LivelyFactory, receiver: Receiver, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    started = time.monotonic()
    running, world, clock, faults = await lively(
        extensions=4,
        error_rate=0.20,
        http_500_rate=0.05,
        hang_rate=0.02,
        malformed_rate=0.02,
    )
    receiver.fail_rate = 0.30
    db = tmp_path / "state" / "tossd.db"
    config = daemon_config(
        tmp_path,
        running.url,
        api_key,
        [receiver.url()],
        api={"timeout_s": 1.0, "retries": 2},
        poll={"interval_s": 0.2},
        delivery={"backoff_s": 0.2, "max_backoff_s": 1},
    )
    daemon = await spawn(tmp_path / "soak.log", "run", "-c", str(config))
    process = psutil.Process(daemon.pid)

    def cycles() -> int:
        return sum(1 for r in daemon.records() if r["event"] == "poll.cycle")

    samples: list[tuple[int, int]] = []

    async def sampled(target: int) -> bool:
        samples.append((process.memory_info().rss, process.num_fds()))
        return cycles() >= target

    await wait_until(
        lambda: cycles() >= WARM_UP_CYCLES, timeout=120, what="warm-up", interval=0.5, alive=daemon
    )
    await wait_until(
        lambda: sampled(CYCLES), timeout=240, what=f"{CYCLES} cycles", interval=1.0, alive=daemon
    )
    soak_s = time.monotonic() - started

    faults.off()
    receiver.fail_rate = 0.0
    clock.freeze()
    world.advance(int(clock()))
    expected = expected_keys(world)

    def drained() -> bool:
        return (
            set(expected) <= set(receiver.keys())
            and db_count(db, OPEN_DELIVERIES) == 0
            and db_count(db, UNPLANNED) == 0
            and db_count(db, VOICEMAILS_WITHOUT_AUDIO) == 0
        )

    def failure_lines() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        records = daemon.records()
        api = [r for r in records if r["event"] in CONTEXT and r["event"] != "delivery.failed"]
        return api, [r for r in records if r["event"] == "delivery.failed"]

    def logged_and_served() -> tuple[Counter[str], Counter[str]]:
        logged = Counter(m for m in map(failed_method, failure_lines()[0]) if m in POLLER_METHODS)
        served = Counter(m for (m, _) in faults.drawn.elements() if m in POLLER_METHODS)
        return logged, served

    def all_reported() -> bool:
        # A request that hung before the faults stopped is reported once its timeout ends.
        logged, served = logged_and_served()
        return logged.total() >= served.total() and len(failure_lines()[1]) >= receiver.failures

    await wait_until(drained, timeout=120, what="the final drain", alive=daemon)
    await wait_until(all_reported, timeout=60, what="every failure logged", alive=daemon)
    code, stop_s = await daemon.terminate(timeout=30)
    failures, refusals = failure_lines()
    third = max(1, len(samples) // 3)
    rss_start = statistics.median(rss for rss, _ in samples[:third])
    rss_end = statistics.median(rss for rss, _ in samples[-third:])
    fds = [fd for _, fd in samples]
    delivered = receiver.keys()
    record_figures(
        "soak",
        poll_cycles=cycles(),
        soak_s=round(soak_s, 1),
        requests=dict(running.sandbox.requests),
        api_faults=dict(Counter(kind for (_, kind) in faults.drawn.elements())),
        api_failure_lines=len(failures),
        receiver_failures=receiver.failures,
        delivery_failed_lines=len(refusals),
        events=len(expected),
        delivered=delivered.total(),
        losses=len(expected - set(delivered)),
        duplicates=sum(c - 1 for c in delivered.values()),
        rss_start_mib=round(rss_start / MIB, 1),
        rss_end_mib=round(rss_end / MIB, 1),
        fds_start=fds[0],
        fds_end=fds[-1],
        stop_s=round(stop_s, 2),
    )

    assert code == 0 and stop_s < 10, (code, stop_s)
    assert cycles() >= CYCLES
    assert rss_end - rss_start < RSS_DRIFT_LIMIT, (rss_start, rss_end)
    # Sockets come and go with the traffic; a leak raises the floor.
    assert min(fds[-third:]) <= min(fds[:third]) + 4, fds
    # Every event arrived, once: a refused post is not a delivery, so nothing repeats.
    assert set(delivered) == expected, (expected - set(delivered), set(delivered) - expected)
    assert all(count == 1 for count in delivered.values()), +delivered - Counter(expected)
    # Each injected fault is one log line, with the context to act on it.
    logged, served = logged_and_served()
    assert logged == served, (logged - served, served - logged, faults.drawn)
    assert len(refusals) == receiver.failures
    for record in [*failures, *refusals]:
        missing = [key for key in CONTEXT[record["event"]] if record.get(key) in (None, "")]
        assert not missing, (record["event"], missing, record)
        if record["event"] == "job.failed":
            assert record.get("error") or record.get("exception"), record
    assert api_key not in daemon.text()
    assert integrity(db) == ("ok", [])
