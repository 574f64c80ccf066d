"""Event-to-announcement latency of the running daemon at 1,000 numbers (run by hand:
`.venv/bin/python bench/poll_latency.py [--minutes 4]`).

The real `Daemon` polls an in-process sandbox (50 ms latency, voicemails listed 5 s after their
call, a rate limit equal to the budget) at the default budget of 10 requests/s and the default
60 s interval, while activity arrives on ~2 % of the numbers a minute: missed calls, voicemails
and texts. Latency runs from the moment the sandbox lists an event to the moment the bench
finds it announced in the store (checked every 0.25 s). Two runs, side by side: texts
account-wide, and texts per DID (the provider refusing account-wide `smsGet`).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tossd.config.model import Config
from tossd.daemon.lifecycle import Daemon
from tossd.sandbox.server import Faults, Sandbox, serve
from tossd.sandbox.world import World
from tossd.store.store import Store

KEY = "bench-latency-key"
NUMBERS = 1000
BUDGET = 10.0
VOICEMAIL_LAG_S = 5
KINDS = ("missed_call", "voicemail", "sms")


def make_world(now: int, sms_per_did: bool) -> World:
    world = World.generate(9, now, extensions=1, history_days=0, activity_every=1e9)
    world.quirks.voicemail_lag_s = VOICEMAIL_LAG_S
    world.quirks.account_wide_sms = not sms_per_did
    for index in range(NUMBERS - 1):
        world.add_extension(did=f"+1888{index:07d}", forward="+15550000000", startdate=now - 86400)
    return world


def arrive(world: World, rng: random.Random, kind: str, serial: int) -> tuple[str, float]:
    """Create one event now: the start of its identity, and when the sandbox lists it."""
    now = int(time.time())
    ext = rng.choice(sorted(world.extensions))
    caller = f"+1777{serial:07d}"
    if kind == "voicemail":
        vm = world.add_voicemail(extensionid=ext, timestamp=now, callernum=caller, length=5)
        return f"voicemail:{ext}:{vm['vmid']}", float(now + VOICEMAIL_LAG_S)
    if kind == "sms":
        sms = world.add_sms(
            did=world.extensions[ext]["did"], timestamp=now, peer=caller, message="x"
        )
        return f"sms:{sms['smsid']}", time.time()
    world.add_call(extensionid=ext, startdate=now, callernum=caller, seconds=0)
    return f"call:{ext}:{now}:{caller}:", time.time()


async def one_run(tmp: Path, minutes: float, sms_per_did: bool) -> dict[str, Any]:
    now = int(time.time())
    world = make_world(now, sms_per_did)
    sandbox = Sandbox(world, api_key=KEY, faults=Faults(latency_ms=50.0), rate_limit=BUDGET)
    state = tmp / ("per-did" if sms_per_did else "account")
    async with serve(sandbox) as running:
        data = {
            "state_dir": str(state),
            "api": {"url": running.url, "key": KEY, "max_requests_per_s": BUDGET},
            "poll": {"jitter_s": 0.0},
        }
        config = Config.model_validate(data, context={"env": {}})
        stop = asyncio.Event()
        daemon = asyncio.create_task(Daemon(config).run(stop))
        while not (state / "tossd.db").exists() or not sandbox.requests["callRecords"]:
            await asyncio.sleep(0.5)
        await asyncio.sleep(70)  # past the first sight of every stream
        sandbox.requests.clear()
        rng = random.Random(5)
        listed: dict[str, tuple[str, float]] = {}
        found: dict[str, float] = {}
        started = time.time()
        end = started + minutes * 60
        with Store.open(config.store_url, audio_dir=state / "audio") as store:
            while time.time() < end or (set(listed) - set(found) and time.time() < end + 900):
                # ~2 % of the numbers a minute: one event every 3 s, kinds in turn.
                if time.time() < end and len(listed) * 3.0 <= time.time() - started:
                    kind = KINDS[len(listed) % len(KINDS)]
                    key, at = arrive(world, rng, kind, len(listed))
                    listed[key] = (kind, at)
                announced = [e.identity for e in store.list_events(since=now) if e.announce]
                for key in set(listed) - set(found):
                    if any(identity.startswith(key) for identity in announced):
                        found[key] = time.time()
                await asyncio.sleep(0.25)
        elapsed_min = (time.time() - started) / 60
        requests = sum(sandbox.requests.values())
        stop.set()
        await daemon
    latency: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for key, (kind, at) in listed.items():
        if key in found:
            latency[kind].append(max(0.0, found[key] - at))
    return {
        "events": len(listed),
        "missed": len(set(listed) - set(found)),
        "requests": requests,
        "per_min": requests / elapsed_min,
        "refused": sandbox.meter.refused,
        "peak_per_s": sandbox.meter.peak_per_s,
        "latency": latency,
    }


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        runs = {
            label: asyncio.run(one_run(Path(name), args.minutes, per_did))
            for label, per_did in (("SMS account-wide", False), ("SMS per DID", True))
        }
    print(
        f"event-to-announcement latency, {NUMBERS} numbers, 50 ms API latency, "
        f"{BUDGET:g} requests/s, 60 s interval, {args.minutes:g} min of activity:"
    )
    for label, run in runs.items():
        cells = ", ".join(
            f"{kind} p50 {quantile(v, 0.5):.1f} s / p99 {quantile(v, 0.99):.1f} s (n={len(v)})"
            for kind, v in run["latency"].items()
        )
        print(
            f"  {label:>16}: {cells}; {run['events']} events, {run['missed']} never seen; "
            f"{run['requests']} requests ({run['per_min']:.0f}/min, "
            f"{run['requests'] / max(1, run['events']):.1f} per event incl. idle); "
            f"sandbox refused {run['refused']}, busiest second {run['peak_per_s']}"
        )


if __name__ == "__main__":
    main()
