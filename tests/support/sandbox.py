"""The sandbox API for tests: a world, served on loopback in-process or by `tossd sandbox`, and
what that world holds, asked directly (not over HTTP)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from tossd.sandbox.catalog import digits, sms_did
from tossd.sandbox.server import RunningSandbox, Sandbox, serve
from tossd.sandbox.world import World

from .cli import tossd_command

API_KEY = "test-key-5f1c0e9a7b"


def make_world(now: int, **overrides: Any) -> World:
    """A generated account as of `now`: seed 7, four numbers, an event an hour, unless told."""
    options: dict[str, Any] = {"extensions": 4, "activity_every": 3600.0}
    options.update(overrides)
    seed = options.pop("seed", 7)
    return World.generate(seed, now, **options)


@asynccontextmanager
async def serve_sandbox(
    world: World, *, api_key: str = API_KEY, **options: Any
) -> AsyncIterator[RunningSandbox]:
    """`world` served on a free loopback port until the block ends (`options`: faults, clock)."""
    async with serve(Sandbox(world, api_key=api_key, **options)) as running:
        yield running


@contextmanager
def sandbox_command(api_key: str) -> Iterator[str]:
    """`tossd sandbox --port 0 --api-key KEY`, started as users start it; yields its URL."""
    proc = subprocess.Popen(
        tossd_command("sandbox", "--port", "0", "--api-key", api_key),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on" in line, line
    yield line.rsplit(" ", 1)[1].strip()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    proc.stdout.close()


def ask(world: World, method: str, now: int, **params: Any) -> Any:
    """Call like the server does: every parameter arrives as text."""
    return world.call(method, {k: str(v) for k, v in params.items()}, now)


def pages(world: World, method: str, now: int, **params: Any) -> list[list[Any]]:
    """Every page of a paged method, up to the first empty one."""
    found: list[list[Any]] = []
    while page := ask(world, method, now, **params, page=len(found) + 1):
        found.append(page)
    return found


def records(world: World, method: str, now: int, **params: Any) -> list[Any]:
    """The records of every page, in order."""
    return [record for page in pages(world, method, now, **params) for record in page]


def first_active(world: World, now: int) -> int:
    """The lowest extension id that has not ended by `now`."""
    return min(i for i, e in world.extensions.items() if e["enddate"] == 0 or e["enddate"] > now)


def served_calls(
    world: World, now: int, active: set[int], *, until: int, since: int = 0
) -> set[tuple[int, int, str]]:
    """(extensionid, startdate, callernum) of every call the world serves from `since` up to
    `until` for the `active` extensions."""
    return {
        (r["extensionid"], r["startdate"], r["callernum"])
        for r in records(world, "callRecords", now, startdate=since, enddate=until)
        if r["extensionid"] in active
    }


def looks_like_mp3(data: bytes) -> bool:
    """An ID3 tag or an MPEG audio frame sync at the start."""
    return data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


def own_figures(world: World, start: int, end: int) -> dict[int, dict[str, int]]:
    """The world's own figures of [start, end) per extension live in it, read from its
    records directly (not over HTTP): calls, minutes, missed, voicemails, texts in and out."""
    figures: dict[int, dict[str, int]] = {}
    for eid, ext in world.extensions.items():
        if not (ext["startdate"] < end and (ext["enddate"] == 0 or ext["enddate"] > start)):
            continue
        calls = [
            c for c in world.calls if c["extensionid"] == eid and start <= c["startdate"] < end
        ]
        box = [v for v in world.voicemails.get(eid, []) if start <= v["timestamp"] < end]
        did = digits(ext["did"])
        texts = [
            s for s in world.sms if start <= s["timestamp"] < end and digits(sms_did(s)) == did
        ]
        figures[eid] = {
            "calls": len(calls),
            "minutes": sum(c["duration"] for c in calls),
            "missed": sum(c["seconds"] == 0 for c in calls),
            "voicemails": len(box),
            "texts_in": sum(s["direction"] == "in" for s in texts),
            "texts_out": sum(s["direction"] == "out" for s in texts),
        }
    return figures
