"""A route that can never fire is loud: a warning at each sync and one self-alert."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs
from support.receivers import JsonReceiver
from support.wait import wait_until

from tossd.config.model import Config
from tossd.daemon.lifecycle import Daemon
from tossd.sandbox.server import RunningSandbox


async def test_a_route_naming_no_number_is_warned_about_and_alerted_once(
    sandbox: RunningSandbox, json_receiver: JsonReceiver, tmp_path: Path, api_key: str
) -> None:
    data: dict[str, Any] = {
        "state_dir": str(tmp_path / "state"),
        "api": {"url": sandbox.url, "key": api_key, "max_requests_per_s": 1000.0},
        "poll": {"interval_s": 0.2, "jitter_s": 0.0, "extensions_interval_s": 0.5},
        "delivery": {"interval_s": 0.2},
        "route": [
            {
                "name": "typo",
                "events": ["voicemail"],
                "extensions": ["Saels"],  # no number has this alias
                "notify": [json_receiver.url("typo")],
            },
            {"name": "me", "events": ["tossd_error"], "notify": [json_receiver.url("alerts")]},
        ],
    }
    config = Config.model_validate(data, context={"env": {}})
    stop = asyncio.Event()
    with capture_logs() as logs:
        daemon = asyncio.create_task(Daemon(config).run(stop))
        try:
            await json_receiver.wait_for(1, timeout=20)
            # Several syncs (every 0.5 s): the warning each time, the alert only once.
            await wait_until(
                lambda: sum(r["event"] == "route.matches_no_number" for r in logs) >= 3,
                timeout=20,
                what="three syncs",
            )
        finally:
            stop.set()
            await daemon
    warnings = [r for r in logs if r["event"] == "route.matches_no_number"]
    assert {(r["route"], r["log_level"]) for r in warnings} == {("typo", "warning")}
    [alert] = json_receiver.posts
    assert alert.path.endswith("/alerts")
    assert "route typo matches no number" in alert.payload["title"]
