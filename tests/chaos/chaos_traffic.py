"""What happened and what arrived: the sandbox's ledger of truth and a controllable receiver.

Every delivered notification carries one line `EVT|kind|extensionid|when_iso|caller` (the
route's `body_template`), so each can be mapped back to the sandbox record it announces.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tossd.sandbox.server import Faults, RunningSandbox
from tossd.sandbox.world import World

#: Figures the suites measured, printed in the terminal summary (see conftest.py).
FIGURES: dict[str, dict[str, Any]] = {}

EVENT_TEMPLATE = "EVT|{{ kind }}|{{ number.extensionid }}|{{ when_iso }}|{{ caller.number }}"
Key = tuple[str, int, int, str]  # kind, extensionid, occurred_at, caller number


def record_figures(suite: str, **figures: Any) -> None:
    FIGURES.setdefault(suite, {}).update(figures)
    print(f"[{suite}] " + ", ".join(f"{k}={v}" for k, v in figures.items()))


# -- the sandbox side ---------------------------------------------------------------------------


class SandboxClock:
    """The sandbox's clock: real time until frozen (a frozen world stops producing activity)."""

    def __init__(self) -> None:
        self.frozen_at: float | None = None

    def __call__(self) -> float:
        return time.time() if self.frozen_at is None else self.frozen_at

    def freeze(self) -> None:
        self.frozen_at = time.time()


@dataclass
class CountingFaults(Faults):
    """The sandbox's fault injection, counting every fault it actually served."""

    drawn: Counter[tuple[str, str]] = field(default_factory=Counter)

    def draw(self, method: str) -> Any:
        kind = super().draw(method)
        if kind is not None:
            self.drawn[(method, kind)] += 1
        return kind

    def off(self) -> None:
        self.error_rate = self.http_500_rate = self.hang_rate = self.malformed_rate = 0.0
        self.latency_ms = 0.0


#: `lively(...)`: a sandbox served on loopback, its world, clock and fault injection.
LivelyFactory = Callable[..., Awaitable[tuple[RunningSandbox, World, SandboxClock, CountingFaults]]]


def expected_keys(world: World) -> set[Key]:
    """Every event the world produced: calls, voicemails and inbound texts."""
    keys: set[Key] = set()
    for call in world.calls:
        kind = "missed_call" if call["seconds"] == 0 else "call"
        keys.add((kind, call["extensionid"], call["startdate"], call["callernum"]))
    for extensionid, box in world.voicemails.items():
        for vm in box:
            keys.add(("voicemail", extensionid, vm["timestamp"], vm["callerid"]))
    owner = {e["did"]: i for i, e in world.extensions.items()}
    for sms in world.sms:
        if sms["direction"] == "in":
            keys.add(("sms", owner[sms["destination"]], sms["timestamp"], sms["source"]))
    return keys


def live_extensions(world: World, at: int) -> list[int]:
    return sorted(
        i
        for i, e in world.extensions.items()
        if e["startdate"] <= at and (e["enddate"] == 0 or e["enddate"] > at)
    )


# -- the receiving side -------------------------------------------------------------------------


def keys_in(text: str) -> list[Key]:
    """The event keys the `EVT|...` lines of one notification name."""
    found = []
    for line in text.splitlines():
        if line.startswith("EVT|"):
            kind, ext, iso, caller = line.split("|")[1:5]
            found.append((kind, int(ext), int(datetime.fromisoformat(iso).timestamp()), caller))
    return found


@dataclass
class Receiver:
    """An Apprise `json://` endpoint: fails a share of posts, or holds them (a slow receiver).

    A held post is recorded when its answer is due even if the sender died meanwhile: aiohttp
    does not cancel a handler when its client goes away, so this is exactly what a real
    receiver that got the message before the crash would have.
    """

    fail_rate: float = 0.0
    delay_s: float = 0.0
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    bodies: list[str] = field(default_factory=list)
    attempts: int = 0
    failures: int = 0
    in_flight: int = 0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def url(self, path: str = "notify") -> str:
        return f"json://{self.host}:{self.port}/{path}"

    def keys(self) -> Counter[Key]:
        return Counter(key for body in self.bodies for key in keys_in(body))

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.in_flight += 1
        try:
            payload = await request.json()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self._rng.random() < self.fail_rate:
                self.failures += 1
                return web.Response(status=500, text="receiver failing on purpose")
            self.bodies.append(str(payload.get("message", "")))
            return web.json_response({"ok": True})
        finally:
            self.in_flight -= 1


@asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, receiver.host, 0)
    await site.start()
    receiver.port = runner.addresses[0][1]
    try:
        yield receiver
    finally:
        await runner.cleanup()


def folder_keys(folder: Path) -> Counter[Key]:
    """Keys of the notifications the `tossd-file://` target wrote into `folder`."""
    if not folder.is_dir():
        return Counter()
    return Counter(key for note in folder.glob("*.txt") for key in keys_in(note.read_text()))


def orphan_temps(*folders: Path) -> list[Path]:
    """Temp files an interrupted atomic write left: `.tmp-*` (store) and `.*.tmp` (folder)."""
    found: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            found += [p for p in folder.iterdir() if p.name.startswith(".") and "tmp" in p.name]
    return found
