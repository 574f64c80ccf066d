"""An idle daemon is quiet: at `info` only the heartbeat speaks, and it counts what happened."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from structlog.testing import capture_logs

from tossd.cli.log import configure_logging
from tossd.config.load import load_config
from tossd.daemon.lifecycle import Daemon
from tossd.sandbox.server import RunningSandbox


async def run_until(daemon: Daemon, done: Callable[[], bool], timeout: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_idle_cycles_are_debug_and_the_heartbeat_counts_them(
    sandbox: RunningSandbox, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    path = write_config(
        sandbox.url,
        poll={"interval_s": 0.2, "jitter_s": 0.0},
        delivery={"interval_s": 0.2},
        routes=[
            {
                "name": "all",
                "events": ["call", "voicemail", "sms"],
                "notify": [f"tossd-file://{inbox}"],
            }
        ],
    )
    config = load_config(path, {})

    def beats(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in logs if r["event"] == "daemon.heartbeat"]

    with capture_logs() as logs:
        daemon = Daemon(config, heartbeat_s=1.0)
        await run_until(daemon, lambda: len(beats(logs)) >= 4, timeout=30)

    cycles = [r for r in logs if r["event"] == "poll.cycle"]
    # The first cycle of each stream stores the account's history; after that nothing is new.
    idle = [r for r in cycles if not r["new"] and not r["failed"]]
    assert len(idle) >= 9
    assert {r["log_level"] for r in idle} == {"debug"}
    assert {r["log_level"] for r in cycles if r["new"]} == {"info"}
    # The streams start 0.5 s apart, so by the third beat all of them are past their history;
    # from then on only heartbeats are said at info: nothing else happened.
    quiet_beats = beats(logs)[2:]
    at = [i for i, r in enumerate(logs) if r["event"] == "daemon.heartbeat"][2:]
    said = [r["event"] for r in logs[at[0] + 1 : at[-1] + 1] if r["log_level"] != "debug"]
    assert said == ["daemon.heartbeat"] * (len(quiet_beats) - 1)
    assert all(b["events"] == 0 and b["failures"] == 0 and b["cycles"] > 0 for b in quiet_beats)
    before_last_beat = [r for r in logs[: at[-1]] if r["event"] == "poll.cycle"]
    assert sum(b["cycles"] for b in beats(logs)) == len(before_last_beat)


def test_apscheduler_says_each_run_below_info() -> None:
    """ "Running job" and "executed successfully" are INFO lines of the executor's logger."""
    configure_logging("info", "json")
    try:
        executor = logging.getLogger("apscheduler.executors.default")
        assert not executor.isEnabledFor(logging.INFO)
        assert executor.isEnabledFor(logging.WARNING)  # missed runs and failures still show
        # "Added job" / "Removed job" for each due voicemail box's one-off checks.
        scheduler = logging.getLogger("apscheduler.scheduler")
        assert not scheduler.isEnabledFor(logging.INFO)
        assert scheduler.isEnabledFor(logging.WARNING)
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
