"""Deliveries/s through the ledger to a local json:// receiver, beside Apprise called directly,
and the same with a hung target (a TCP server that accepts and never answers) beside it.

Run by hand: `.venv/bin/python bench/deliver.py [--messages N] [--rounds R]`. Each round runs
every side once, in turn, on the same 1,000 messages to the same receiver, so each round's
figures share the machine's load of the moment; the medians over the rounds are printed.

- Apprise directly: one Apprise call per message, 8 at a time (the daemon's shared limit),
  and 2 at a time (a lane's limit: the most the ledger sends to one target at once).
- Through the ledger: the daemon's `Deliverer` from planned rows to sent rows (claim, render,
  send, record), started by `dispatch()` as the daemon's delivery job starts them; logging
  as the daemon does it (JSON at info, here to /dev/null).
- With a hung target: every event also owed to a json:// target whose server never answers;
  the rate is the healthy receiver's. Its lane holds its own two slots until the deadline,
  then its breaker opens; the healthy lane is not slowed.
- Apprise directly with the hung target in the same Apprise object (what tossd did before
  per-target lanes): each call waits for the hung one. Measured on a few messages only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC
from pathlib import Path

import apprise
from aiohttp import web

from tossd.cli.log import configure_logging
from tossd.config.routes import DeliveryConfig
from tossd.domain import EventKind, NewEvent, Stream
from tossd.notify.apprise.kinds import target_info
from tossd.notify.deliver import Deliverer
from tossd.notify.lanes import PER_TARGET_CONCURRENCY
from tossd.notify.routing import Route, Target
from tossd.store.store import Store
from tossd.text.phone import use_places

CONCURRENCY = 8
#: A hung send is given up after this long.
DEADLINE_S = 5.0
#: The delivery job's interval here: short enough that sends never wait for a tick.
TICK_S = 0.2
#: Messages sent directly with the hung target in the same Apprise object (each waits for it).
STALLED_SAMPLE = 16


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            await request.read()
            self.count += 1
            self.arrived.set()
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"json://127.0.0.1:{self.runner.addresses[0][1]}/hook"

    async def wait_for(self, count: int) -> None:
        while self.count < count:
            self.arrived.clear()
            await self.arrived.wait()


class Blackhole:
    """Accepts connections and never answers."""

    def __init__(self) -> None:
        self.held: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.held.append(writer)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.url = f"json://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in self.held:
                writer.close()
            await self.server.wait_closed()


def seed(store: Store, n: int, now: int) -> None:
    events = [
        NewEvent(
            EventKind.MISSED_CALL,
            1,
            f"call:1:{now - i}:+1555{i:07d}",
            now - i,
            True,
            {"callernum": f"+1212555{i % 10000:04d}", "callername": "Bench", "seconds": 0},
        )
        for i in range(n)
    ]
    store.record_batch(1, Stream.CALLS, events, now, now)


async def through_ledger(tmp: Path, receiver: Receiver, n: int, hung_url: str | None) -> float:
    """Deliveries/s to `receiver` of `n` planned events (also owed to `hung_url` if given)."""
    now = int(time.time())
    urls = [receiver.url] + ([hung_url] if hung_url else [])
    targets = tuple(
        Target(url, f"notify[{i}]", f"json://bench{i}", target_info(url))
        for i, url in enumerate(urls)
    )
    route = Route("bench", frozenset({"call"}), frozenset(), targets, True, tz=UTC)
    # One message per event is what is measured: no burst digest.
    config = DeliveryConfig(concurrency=CONCURRENCY, timeout_s=DEADLINE_S, max_per_cycle=n + 1)
    with Store.open(f"sqlite:///{tmp / 'bench.db'}", audio_dir=tmp / "audio") as store:
        seed(store, n, now)
        deliverer = Deliverer(store, store.ledger(), [route], config)
        goal = receiver.count + n
        started = time.perf_counter()
        # As the daemon's delivery job does (at `[delivery] interval_s`): start what is due.
        arrived = asyncio.ensure_future(receiver.wait_for(goal))
        while not arrived.done():
            deliverer.dispatch()
            await asyncio.wait([arrived], timeout=TICK_S)
        rate = n / (time.perf_counter() - started)
        await deliverer.settle(0)  # the hung sends: abandoned, their rows stay owed
    return rate


async def direct(urls: list[str], n: int, concurrency: int = CONCURRENCY) -> float:
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with slots:
            client = apprise.Apprise()
            client.add(urls)
            await asyncio.to_thread(client.notify, body=f"Missed call {i}", title=f"Missed {i}")

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - started)


async def main(n: int, rounds: int) -> None:
    with open(os.devnull, "w") as devnull:
        configure_logging("info", "json", stream=devnull)
        receiver, hole = Receiver(), Blackhole()
        await receiver.start()
        await hole.start()
        figures: dict[str, list[float]] = {}
        # What the daemon does once at start: the place index opened (built on first use),
        # Apprise's plugins loaded; none of it is any side's cost per message.
        use_places(None)
        await direct([receiver.url], 2 * CONCURRENCY)
        try:
            for _ in range(rounds):
                with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
                    sides = {
                        "Apprise directly": direct([receiver.url], n),
                        "Apprise directly, 2 at once": direct(
                            [receiver.url], n, PER_TARGET_CONCURRENCY
                        ),
                        "through the ledger": through_ledger(Path(one), receiver, n, None),
                        "ledger, hung target beside": through_ledger(
                            Path(two), receiver, n, hole.url
                        ),
                    }
                    for name, side in sides.items():
                        figures.setdefault(name, []).append(await side)
            stalled = await direct([receiver.url, hole.url], STALLED_SAMPLE)
        finally:
            await hole.stop()
            assert receiver.runner is not None
            await receiver.runner.cleanup()
    print(
        f"{n} messages x {rounds} rounds, concurrency {CONCURRENCY}, send deadline {DEADLINE_S:g} s"
    )
    median = {name: statistics.median(rates) for name, rates in figures.items()}
    base = median["Apprise directly"]
    for name, rates in figures.items():
        each = " ".join(f"{r:.0f}" for r in rates)
        cost = f"  cost {(base / median[name] - 1) * 100:5.1f} %"
        cost = "" if name.startswith("Apprise") else cost
        print(f"{name:28} {median[name]:7.1f} deliveries/s (median; rounds: {each}){cost}")
    print(
        f"{'Apprise, hung URL beside':28} {stalled:7.1f} deliveries/s ({STALLED_SAMPLE} messages)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
