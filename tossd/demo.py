"""`tossd demo`: the built-in sandbox and tossd against it, with no account and no config."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from tossd.api import Client
from tossd.sandbox.runner import SandboxOptions, build_sandbox
from tossd.sandbox.server import serve


async def run_demo(state_dir: Path, *, now: float) -> None:
    """Serve the sandbox on a free loopback port and poll it once, printing what it finds."""
    key = secrets.token_hex(16)
    options = SandboxOptions(port=0, api_key=key, activity_every=10.0)
    state_dir.mkdir(parents=True, exist_ok=True)
    async with (
        serve(build_sandbox(options, now), port=0) as running,
        Client.connect(running.url, key, max_requests_per_s=100.0) as api,
    ):
        print(f"sandbox API on {running.url}")
        for ext in await api.extension_list(active=True):
            calls = await api.call_records(startdate=int(now) - 86400, enddate=int(now))
            calls = [c for c in calls if c.extensionid == ext.extensionid]
            missed = sum(1 for c in calls if c.seconds == 0)
            voicemails = await api.extension_voicemail_get(extensionid=ext.extensionid)
            print(
                f"{ext.did} ({ext.alias}): {len(calls)} calls in 24 h, {missed} missed, "
                f"{len(voicemails)} voicemails"
            )
            if voicemails:
                newest = max(voicemails, key=lambda v: v.timestamp)
                clip = await api.audioclip_get(clipid=newest.clipid)
                target = state_dir / f"voicemail-{ext.extensionid}.mp3"
                target.write_bytes(clip.audio())
                when = datetime.fromtimestamp(newest.timestamp, UTC).isoformat()
                print(f"  newest voicemail {when}, {newest.length} s -> {target}")
