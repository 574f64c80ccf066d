"""`tossd demo`: the built-in sandbox and the real daemon against it, no account, no config.

Everything happens on loopback: the sandbox API on a free port, tossd's store in
`<dir>/state`, every notification written by the `tossd-file://` target to
`<dir>/notifications` (the voicemail MP3 beside it) and echoed to the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from tossd.config.model import Config
from tossd.config.transcribe import TranscribeConfig
from tossd.daemon.lifecycle import Daemon
from tossd.daemon.signals import stop_on_signals
from tossd.sandbox.quirks import Quirks
from tossd.sandbox.runner import SandboxOptions, build_sandbox
from tossd.sandbox.server import serve

MARKER = ".tossd-demo"
ACTIVITY_EVERY_S = 6.0
DEMO_VOICEMAIL_LAG_S = 3
DEMO_BUDGET = 50.0
DEMO_RATE_LIMIT = DEMO_BUDGET


def demo_config(
    directory: Path, url: str, key: str, transcribe: TranscribeConfig | None = None
) -> Config:
    """A brisk configuration: poll every 2 s, every event kind to the folder target; the
    `[transcribe]` section of the user's config, so the sandbox's voicemails are heard."""
    data: dict[str, Any] = {
        "state_dir": str(directory / "state"),
        "api": {"url": url, "key": key, "max_requests_per_s": DEMO_BUDGET},
        "poll": {"interval_s": 2.0, "jitter_s": 0.0, "initial_window_s": 60},
        "delivery": {"interval_s": 1.0, "audio_wait_s": 20.0},
        "log": {"level": "warning"},
        "route": [
            {
                "name": "demo",
                "events": ["call", "voicemail", "sms"],
                "notify": [f"tossd-file://{(directory / 'notifications').resolve()}"],
            }
        ],
    }
    config = Config.model_validate(data, context={"env": {}})
    return config if transcribe is None else config.model_copy(update={"transcribe": transcribe})


def reset(directory: Path) -> None:
    """Start each demo afresh; only a folder the demo made itself is ever removed."""
    if (directory / MARKER).exists():
        shutil.rmtree(directory / "state", ignore_errors=True)
        shutil.rmtree(directory / "notifications", ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by `tossd demo`; safe to delete\n")


async def echo_notifications(folder: Path, stop: asyncio.Event) -> None:
    """Print each notification the folder target writes, with its attachments."""
    shown: set[Path] = set()
    while not stop.is_set():
        for note in sorted(folder.glob("*.txt")) if folder.exists() else []:
            if note in shown:
                continue
            shown.add(note)
            title, _, body = note.read_text(encoding="utf-8").partition("\n\n")
            print(f"\n>>> {title}\n{body.rstrip()}")
            for extra in sorted(folder.glob(f"{note.stem}-*")):
                print(f"    attached: {extra} ({extra.stat().st_size} bytes)")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def run_demo(
    directory: Path, *, duration_s: float | None = None, transcribe: TranscribeConfig | None = None
) -> None:
    reset(directory)
    key = secrets.token_hex(16)
    # A provider as the real one is thought to be: a voicemail listed a few seconds after its
    # call, and a request budget it enforces (the daemon's default budget stays within it).
    quirks = Quirks(voicemail_lag_s=DEMO_VOICEMAIL_LAG_S)
    options = SandboxOptions(
        port=0,
        api_key=key,
        activity_every=ACTIVITY_EVERY_S,
        quirks=quirks,
        rate_limit=DEMO_RATE_LIMIT,
    )
    stop = stop_on_signals()
    async with serve(build_sandbox(options, time.time()), port=0) as running:
        config = demo_config(directory, running.url, key, transcribe)
        print(f"tossd demo: sandbox API on {running.url}")
        print(f"state in {directory / 'state'}, notifications in {directory / 'notifications'}")
        print("new calls, missed calls, voicemails and texts arrive every few seconds;")
        print(
            "press Ctrl-C to stop." if duration_s is None else f"stopping after {duration_s:g} s."
        )
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, stop.set)
        await asyncio.gather(
            Daemon(config).run(stop),
            echo_notifications(directory / "notifications", stop),
        )
    print("\ntossd demo stopped.")
