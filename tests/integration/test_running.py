"""A running daemon: SIGHUP reloads its config, a rejected key, a health port in use."""

from __future__ import annotations

import re
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.cli import DaemonProcess, run_tossd
from support.wait import wait_until

HOOK = "json://127.0.0.1:9/hook"


def columns(row: str) -> list[str]:
    return re.split(r" {2,}", row)


def events(daemon: DaemonProcess, name: str) -> list[dict[str, Any]]:
    return [record for record in daemon.records() if record["event"] == name]


async def test_sighup_reloads_routes_intervals_and_log_level_and_refuses_a_bad_config(
    sandbox: Any, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    route = {"events": ["sms"], "notify": [HOOK]}
    fast = {"interval_s": 30, "jitter_s": 0}
    path = write_config(sandbox.url, routes=[route], poll=fast, log={"format": "json"})
    daemon = await DaemonProcess(tmp_path / "daemon.log", "run", "-c", str(path)).start()
    try:
        await wait_until(lambda: bool(events(daemon, "daemon.started")), timeout=30, alive=daemon)
        assert not [r for r in daemon.records() if r["level"] == "debug"]

        # A second route, another interval, debug logging, a new API URL: all but the
        # URL are taken up at once, and the daemon says the URL needs a restart.
        write_config(
            "http://127.0.0.1:9/apihttp.php",
            routes=[route, {"name": "office", **route}],
            poll={**fast, "sms_interval_s": 10},
            log={"format": "json", "level": "debug"},
        )
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        await wait_until(lambda: bool(events(daemon, "config.reloaded")), timeout=20, alive=daemon)
        (reloaded,) = events(daemon, "config.reloaded")
        assert reloaded["routes"] == ["route-1", "office"]
        assert reloaded["restart_needed"] == ["api"]
        await wait_until(
            lambda: any(r["level"] == "debug" for r in daemon.records()), timeout=20, alive=daemon
        )

        # A config that no longer validates: refused, the error logged, the daemon stays up.
        path.write_text(path.read_text() + "\n[bogus]\nx = 1\n")
        daemon.proc.send_signal(signal.SIGHUP)
        await wait_until(
            lambda: bool(events(daemon, "config.reload_failed")), timeout=20, alive=daemon
        )
        (failed,) = events(daemon, "config.reload_failed")
        assert "bogus: unknown key" in failed["error"]
        assert len(events(daemon, "config.reloaded")) == 1
    finally:
        code, _ = await daemon.terminate(20)
    assert code == 0, daemon.text()[-3000:]


async def test_health_is_unhealthy_at_once_when_the_key_is_rejected(
    sandbox: Any, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    # A long interval: without the rejection noted, health would wait 3 x 600 s to say so.
    path = write_config(sandbox.url, poll={"interval_s": 600, "jitter_s": 0})
    path.write_text(path.read_text().replace('key = "', 'key = "wrong-'))
    daemon = await DaemonProcess(tmp_path / "daemon.log", "run", "-c", str(path)).start()
    try:
        await wait_until(
            lambda: bool(events(daemon, "extensions.sync_failed")), timeout=30, alive=daemon
        )
        code, out, _ = await run_tossd("health", "-c", str(path))
    finally:
        await daemon.terminate(20)
    assert code == 1, out
    assert out.startswith("unhealthy:\n  the API key was rejected: ")
    assert "wrong-" not in out

    # Fixed and started again: the old refusal is not this run's.
    path.write_text(path.read_text().replace('key = "wrong-', 'key = "'))
    daemon = await DaemonProcess(tmp_path / "again.log", "run", "-c", str(path)).start()
    try:
        await wait_until(lambda: bool(events(daemon, "daemon.started")), timeout=30, alive=daemon)
        code, out, _ = await run_tossd("health", "-c", str(path))
    finally:
        await daemon.terminate(20)
    assert "rejected" not in out


async def test_a_listen_port_in_use_exits_69_not_78(
    sandbox: Any, write_config: Callable[..., Path]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = write_config(sandbox.url, health={"listen": f"127.0.0.1:{port}"})
        code, _, err = await run_tossd("run", "-c", str(path))
    # EX_UNAVAILABLE: systemd restarts it (RestartPreventExitStatus=78 would keep it down).
    assert code == 69, err
    assert f"health.listen: cannot listen on 127.0.0.1:{port}" in err


async def test_outbox_counts_the_attempt_that_succeeded_and_texts_read_as_texts(
    sandbox: Any, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    folder = {"events": ["sms"], "notify": [f"tossd-file://{tmp_path}/inbox"]}
    window = {"initial_window_s": 30 * 86400}
    path = write_config(sandbox.url, routes=[folder], poll=window)
    code, out, err = await run_tossd("poll", "--once", "-c", str(path))
    assert code == 0, err
    code, out, err = await run_tossd("outbox", "--state", "sent", "-c", str(path))
    assert code == 0, err
    header, *rows = out.splitlines()
    assert rows, out
    tries = header.split().index("TRIES")
    assert {row.split()[tries] for row in rows} == {"1"}

    # What arrived: the title once, then a body in a text's own words.
    texts = sorted((tmp_path / "inbox").glob("*.txt"))
    assert texts
    for text in texts:
        title, blank, *body = text.read_text(encoding="utf-8").splitlines()
        assert title.startswith("Text from ") and blank == ""
        assert body[0].startswith("From: ") and body[1].startswith("To: ")
        assert title not in body and not any("Number called" in line for line in body)


async def test_events_zone_number_and_limit(
    sandbox: Any, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_config(sandbox.url, delivery={"timezone": "Asia/Tokyo"})
    code, _, err = await run_tossd("poll", "--once", "-c", str(path))
    assert code == 0, err
    code, out, err = await run_tossd("events", "-c", str(path))
    assert code == 0, err
    rows = out.splitlines()[1:]
    assert rows and all(" JST  " in row for row in rows), out  # [delivery] timezone
    code, out, _ = await run_tossd("events", "--tz", "UTC", "--limit", "3", "-c", str(path))
    assert code == 0 and len(out.splitlines()) == 4 and " UTC  " in out
    number = columns(rows[0])[2]  # NUMBER: the alias (or DID) of the first row
    code, out, err = await run_tossd("events", "--number", number, "-c", str(path))
    assert code == 0, err
    assert {columns(row)[2] for row in out.splitlines()[1:]} == {number}
    code, _, err = await run_tossd("events", "--number", "no-such", "-c", str(path))
    assert code == 1 and "--number 'no-such': no number has that DID, alias or id" in err
    code, _, err = await run_tossd("events", "--limit", "-1", "-c", str(path))
    assert code == 2 and "-1 is not 1 or more" in err
    code, _, err = await run_tossd("events", "--tz", "Mars/Base", "-c", str(path))
    assert code == 1 and "unknown time zone" in err
