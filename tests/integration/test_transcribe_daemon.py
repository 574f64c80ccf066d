"""`tossd run` with the openai engine against a fake server: a voicemail's notification
carries its transcript, or goes without it after `wait_s` and says why; a transcript that
comes later is stored and shown by `tossd events`; the key is in no log line."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.cli import RunTossd, start_tossd
from support.logs import parse_records
from support.net import free_port
from support.receivers import JsonReceiver
from support.sandbox import first_active
from support.whisper import FakeWhisper, error_body, serve_whisper

from tossd.sandbox.server import RunningSandbox

KEY = "sk-live-transcribe-secret-42"
TEXT = "Hi, it's Maria from Doctor Smith's office, please call back."


async def run_daemon_until(
    config: Path, receiver: JsonReceiver, log_path: Path, port: int, then: Callable[[], Any]
) -> tuple[str, str, str]:
    """Run `tossd run` until one notification arrives and `then()` is true; its body, the
    log, and /metrics as it was then."""
    env = {"TOSSD_TRANSCRIBE_KEY": KEY}
    with log_path.open("wb") as log:
        proc = await start_tossd("run", "-c", str(config), stderr=log, env=env)
    try:
        (payload,) = await receiver.wait_for(1, timeout=40)
        deadline = time.monotonic() + 30
        while not await then() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            metrics = await response.text()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)
    return str(payload["message"]), log_path.read_text(), metrics


@pytest.mark.parametrize(
    ("server", "wait_s", "says"),
    [
        # In time: the text, labelled.
        ({"text": TEXT}, 20, f"Automatic transcript, may contain errors:\n“{TEXT}”"),
        # Too slow for wait_s: sent without it, saying so; the text comes later (below).
        ({"text": TEXT, "delay_s": 3.0}, 1, "Transcript unavailable: not ready within 1 s"),
        # A refused key is not retried: the notification says what failed, at once.
        (
            {"status": 401, "body": error_body(f"bad key {KEY}")},
            20,
            "Transcript unavailable: transcription failed (127.0.0.1 refused the key (HTTP 401)",
        ),
    ],
    ids=["in-time", "too-slow", "key-refused"],
)
async def test_the_voicemail_notification_carries_the_transcript_or_says_why_not(
    sandbox: RunningSandbox,
    json_receiver: JsonReceiver,
    write_config: Callable[..., Path],
    run_tossd: RunTossd,
    tmp_path: Path,
    now: int,
    server: dict[str, Any],
    wait_s: float,
    says: str,
) -> None:
    world = sandbox.sandbox.world
    world.add_voicemail(
        extensionid=first_active(world, now), timestamp=now - 30, callernum="+13125550199", length=9
    )
    port = free_port()
    async with serve_whisper(FakeWhisper(**server)) as whisper:
        config = write_config(
            sandbox.url,
            poll={"interval_s": 0.5, "jitter_s": 0},
            delivery={"interval_s": 0.5},
            transcribe={"engine": "openai", "base_url": whisper.base_url, "wait_s": wait_s},
            health={"listen": f"127.0.0.1:{port}"},
            routes=[{"name": "hook", "events": ["voicemail"], "notify": [json_receiver.url()]}],
        )

        async def stored() -> bool:
            code, out, _ = await run_tossd(
                "events", "--json", "--kind", "voicemail", "-c", str(config)
            )
            found = [json.loads(line).get("transcript") for line in out.splitlines()]
            return code == 0 and any(t and t["state"] != "retrying" for t in found)

        body, log, metrics = await run_daemon_until(
            config, json_receiver, tmp_path / "log", port, then=stored
        )
        uploads = whisper.uploads
    assert says in body
    assert len(json_receiver.posts) == 1  # one notification, never a second with the text
    assert uploads and uploads[0].authorization == f"Bearer {KEY}"
    assert KEY not in log and KEY not in body
    records = parse_records(log)
    assert not [r for r in records if r.get("level") in ("error", "critical")]

    code, out, _ = await run_tossd("events", "--json", "--kind", "voicemail", "-c", str(config))
    (event,) = [json.loads(line) for line in out.splitlines() if json.loads(line)["announce"]]
    transcript = event["transcript"]
    if server.get("status", 200) == 200:
        # Stored whether or not the notification waited for it: `tossd events` shows it.
        assert transcript["state"] == "done" and transcript["text"] == TEXT
        assert any(r["event"] == "transcribe.done" for r in records)
        assert 'tossd_transcriptions_total{outcome="ok"} 1.0' in metrics
        code, out, _ = await run_tossd("events", "--grep", "SMITH", "-c", str(config))
        assert code == 0 and "9 s voicemail: Hi, it's Maria" in out
    else:
        assert transcript["state"] == "failed" and "HTTP 401" in transcript["error"]
        failures = [r for r in records if r["event"] == "transcribe.failed"]
        assert len(failures) == 1 and failures[0]["gives_up"] is True
        assert failures[0]["engine"] == "openai" and failures[0]["event_id"] == event["id"]
        assert 'tossd_transcriptions_total{outcome="failed"} 1.0' in metrics
