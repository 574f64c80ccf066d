"""Deliveries/s through the ledger to a local json:// receiver, beside Apprise called directly.

Run by hand: `.venv/bin/python bench/deliver.py [--messages N]`. Both sides send the same
rendered messages to the same receiver with the same concurrency (8); the difference is the
ledger's cost (planning, rendering, bookkeeping in SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from datetime import UTC
from pathlib import Path

import apprise
from aiohttp import web

from tossd.config.routes import DeliveryConfig
from tossd.domain import EventKind, NewEvent, Stream
from tossd.notify.apprise.kinds import target_info
from tossd.notify.deliver import Deliverer
from tossd.notify.routing import Route, Target
from tossd.store.store import Store

CONCURRENCY = 8


async def receiver() -> tuple[web.AppRunner, str, list[int]]:
    count = [0]

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        count[0] += 1
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"json://127.0.0.1:{port}/hook", count


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


async def through_ledger(tmp: Path, url: str, n: int) -> float:
    now = int(time.time())
    with Store.open(f"sqlite:///{tmp / 'bench.db'}", audio_dir=tmp / "audio") as store:
        seed(store, n, now)
        target = Target(url, "notify[0]", "json://bench", target_info(url))
        route = Route("bench", frozenset({"call"}), frozenset(), (target,), True, tz=UTC)
        # One message per event is what is measured: no burst digest.
        config = DeliveryConfig(concurrency=CONCURRENCY, max_per_cycle=n)
        deliverer = Deliverer(store, store.ledger(), [route], config)
        started = time.perf_counter()
        sent = 0
        while sent < n:
            sent += (await deliverer.drain()).sent
        return n / (time.perf_counter() - started)


async def direct(url: str, n: int) -> float:
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with slots:
            client = apprise.Apprise()
            client.add(url)
            await asyncio.to_thread(client.notify, body=f"Missed call {i}", title=f"Missed {i}")

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - started)


async def main(n: int) -> None:
    logging.disable(logging.INFO)
    runner, url, count = await receiver()
    try:
        with tempfile.TemporaryDirectory() as name:
            ledger_rate = await through_ledger(Path(name), url, n)
        direct_rate = await direct(url, n)
    finally:
        await runner.cleanup()
    print(f"{n} messages, concurrency {CONCURRENCY}, receiver got {count[0]}")
    print(f"through the ledger: {ledger_rate:7.1f} deliveries/s")
    print(f"Apprise directly:   {direct_rate:7.1f} deliveries/s")
    print(f"ledger overhead:    {(direct_rate / ledger_rate - 1) * 100:6.1f} %")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    asyncio.run(main(parser.parse_args().messages))
