"""Poller and store figures (run by hand: `.venv/bin/python bench/poll.py`).

1. Requests of one idle cycle over 1,000 numbers (sandbox latency 50 ms, in its own process):
   the per-number design beside change-driven polling, and each one's time at 10 requests/s.
2. Ingest of 100,000 call records through the store, beside raw sqlite3.executemany.
3. An idle poll cycle (nothing new) with 10,000 and with 1,000,000 stored events.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import sqlite3
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tossd.api.client import Client
from tossd.api.models import CallRecord
from tossd.api.options import ApiOptions
from tossd.api.transport import Transport
from tossd.config.model import PollConfig
from tossd.domain import Stream
from tossd.poll.poller import Poller
from tossd.poll.translate import call_events
from tossd.store.store import Store

KEY = "bench"
DAY = 86400


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_world(port: int, extensions: int, latency_ms: float, now: int, per_number: bool) -> None:
    from tossd.sandbox.server import Faults, Sandbox, serve
    from tossd.sandbox.world import World

    world = World.generate(3, now, extensions=2, history_days=0, activity_every=1e9)
    world.quirks.account_wide_calls = world.quirks.account_wide_sms = not per_number
    for index in range(extensions):
        ext = world.add_extension(
            did=f"+1999{index:07d}", forward="+15550000000", startdate=now - 30 * DAY
        )
        world.add_call(extensionid=ext["extensionid"], startdate=now - 3600, callernum="+1555")

    async def main() -> None:
        sandbox = Sandbox(world, api_key=KEY, faults=Faults(latency_ms=latency_ms))
        async with serve(sandbox, port=port):
            await asyncio.Event().wait()

    asyncio.run(main())


class CountingTransport:
    """Counts requests on their way to the real transport."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.count = 0

    async def call(self, method: str, params: Mapping[str, object]) -> Any:
        self.count += 1
        return await self.inner.call(method, params)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def wait_up(url: str) -> None:
    client = Client.connect(ApiOptions(url=url, retries=0, timeout_s=1), KEY)
    for _ in range(200):
        try:
            await client.number_get_countries()
            break
        except Exception:
            await asyncio.sleep(0.1)
    await client.aclose()


async def idle_cycle_requests(tmp: Path, per_number: bool, budget: float = 10.0) -> str:
    """Requests of one idle cycle over 1,000 numbers, and how long it takes at `budget`.

    `per_number` is the design before change-driven polling (the provider refusing
    account-wide queries, every voicemail box every cycle), side by side with today's.
    """
    port = free_port()
    now = int(time.time())
    args = (port, 1000, 50.0, now, per_number)
    proc = multiprocessing.Process(target=serve_world, args=args, daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{port}/apihttp.php"
    label = "per-number" if per_number else "change-driven"
    try:
        await wait_up(url)
        options = ApiOptions(url=url, max_concurrency=16, max_requests_per_s=1e9, timeout_s=30)
        transport = CountingTransport(Transport(options, KEY))
        config = PollConfig(voicemail_sweep_s=60.0 if per_number else 900.0)
        db = tmp / f"cycle-{label}.db"
        with Store.open(f"sqlite:///{db}", audio_dir=tmp / "audio") as store:
            poller = Poller(Client(transport), store, config)
            await poller.poll_all()  # first sight
            counts = []
            for _ in range(3):
                transport.count = 0
                await poller.poll_all()
                counts.append(transport.count - 1)  # less the hourly extensionList
        await transport.aclose()
    finally:
        proc.terminate()
        proc.join()
    median = sorted(counts)[1]
    return (
        f"{label:>13}: {median:5d} requests per idle cycle (of 3: {counts}); "
        f"{median / budget:7.1f} s a cycle at {budget:g} requests/s"
    )


def records(count: int, now: int) -> list[CallRecord]:
    return [
        CallRecord(
            startdate=now - count + i,
            extensionid=1 + i % 100,
            callednum="+15550000000",
            callernum=f"+1555{i:07d}",
            callername="Bench",
            seconds=i % 7,
            duration=1,
        )
        for i in range(count)
    ]


def ingest(tmp: Path) -> None:
    now = int(time.time())
    rows = records(100_000, now)
    events = call_events(rows, announce_since=0)
    with Store.open(f"sqlite:///{tmp / 'b.db'}", audio_dir=tmp / "audio") as store:
        started = time.perf_counter()
        for offset in range(0, len(events), 1000):
            batch = events[offset : offset + 1000]
            store.record_batch(batch[0].extensionid, Stream.CALLS, batch, now, now)
        ours = len(events) / (time.perf_counter() - started)
    raw_db = sqlite3.connect(tmp / "raw.db")
    raw_db.execute("PRAGMA journal_mode=WAL")
    raw_db.execute("PRAGMA synchronous=NORMAL")
    raw_db.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, extensionid INT, "
        "identity TEXT UNIQUE, occurred_at INT, recorded_at INT, announce INT, payload TEXT)"
    )
    import json

    tuples = [
        (
            e.kind.value,
            e.extensionid,
            e.identity,
            e.occurred_at,
            now,
            1,
            json.dumps(dict(e.payload)),
        )
        for e in events
    ]
    started = time.perf_counter()
    for offset in range(0, len(tuples), 1000):
        with raw_db:
            raw_db.executemany(
                "INSERT INTO events (kind, extensionid, identity, occurred_at, recorded_at, "
                "announce, payload) VALUES (?,?,?,?,?,?,?)",
                tuples[offset : offset + 1000],
            )
    raw = len(tuples) / (time.perf_counter() - started)
    print(
        f"2. ingest 100,000 call records: {ours:,.0f} records/s through the store; "
        f"raw executemany {raw:,.0f} records/s ({raw / ours:.1f}x)"
    )


async def idle_cycle(tmp: Path, stored: int) -> float:
    """Cost of an idle cycle over 10 extensions with `stored` events in the database."""
    from tossd.sandbox.server import Faults, Sandbox, serve
    from tossd.sandbox.world import World

    now = int(time.time())
    db = tmp / f"idle-{stored}.db"
    with Store.open(f"sqlite:///{db}", audio_dir=tmp / "audio") as store:
        filler = call_events(records(stored, now - 30 * DAY), announce_since=0)
        for offset in range(0, len(filler), 20_000):
            batch = filler[offset : offset + 20_000]
            store.record_batch(9999, Stream.CALLS, batch, None, now)
        world = World.generate(5, now, extensions=10, history_days=1, activity_every=1e9)
        async with serve(Sandbox(world, api_key=KEY, faults=Faults())) as running:
            client = Client.connect(ApiOptions(url=running.url, max_requests_per_s=1e9), KEY)
            poller = Poller(client, store, PollConfig())
            await poller.poll_all()
            timings = []
            for _ in range(5):
                started = time.perf_counter()
                reports = await poller.poll_all()
                timings.append(time.perf_counter() - started)
                assert all(r.new == 0 for r in reports)
            await client.aclose()
    return min(timings)


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        print("1. one idle cycle over 1,000 numbers, sandbox latency 50 ms:")
        for per_number in (True, False):
            print("   " + asyncio.run(idle_cycle_requests(tmp, per_number)))
        ingest(tmp)
        small = asyncio.run(idle_cycle(tmp, 10_000))
        large = asyncio.run(idle_cycle(tmp, 1_000_000))
        print(
            f"3. idle cycle (10 extensions, 3 streams): {small * 1000:.1f} ms with 10,000 "
            f"stored events, {large * 1000:.1f} ms with 1,000,000 ({large / small:.2f}x)"
        )


if __name__ == "__main__":
    main()
