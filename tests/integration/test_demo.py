"""`tossd demo`: the first-minute experience, run as users run it."""

from __future__ import annotations

import asyncio
import signal
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest
from support.cli import start_tossd


@pytest.mark.parametrize(
    "env",
    [
        None,
        # The image sets $TOSSD_CONFIG for `run`; `docker run IMAGE demo` mounts no config.
        {"TOSSD_CONFIG": "/nonexistent/tossd.toml"},
    ],
    ids=["no-config", "config-env-naming-no-file"],
)
async def test_demo_delivers_a_voicemail_with_its_mp3_and_stops_on_ctrl_c(
    tmp_path: Path, env: dict[str, str] | None
) -> None:
    demo_dir = tmp_path / "tossd-demo"
    proc = await start_tossd("demo", "--dir", str(demo_dir), stdout=PIPE, env=env)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(30):  # the promise: a voicemail within 30 s
            while not any(line.startswith("    attached:") for line in seen):
                seen.append((await proc.stdout.readline()).decode())
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, err.decode()
    assert "tossd demo stopped." in out.decode()
    assert any(line.startswith(">>> Voicemail from") for line in seen)
    mp3s = list((demo_dir / "notifications").glob("*.mp3"))
    assert mp3s and mp3s[0].read_bytes()[:1] in (b"\xff", b"I")
    assert (demo_dir / "state" / "tossd.db").exists()
