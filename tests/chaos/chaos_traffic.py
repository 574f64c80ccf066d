"""What happened and what arrived: the sandbox's ledger of truth and the receiver's keys.

Every delivered notification carries one line `EVT|kind|extensionid|when_iso|caller` (the
route's `body_template`), so each can be mapped back to the sandbox record it announces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from support.clock import FreezableClock
from support.receivers import JsonReceiver

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
LivelyFactory = Callable[
    ..., Awaitable[tuple[RunningSandbox, World, FreezableClock, CountingFaults]]
]


def folded_calls(world: World) -> set[Key]:
    """The calls that reached voicemail and left one: told as that voicemail, not as calls
    (the chaos routes take both `call` and `voicemail`, so they fold)."""
    voicemails = {
        (extensionid, vm["timestamp"], vm["callerid"])
        for extensionid, box in world.voicemails.items()
        for vm in box
    }
    return {
        ("call", call["extensionid"], call["startdate"], call["callernum"])
        for call in world.calls
        if call["status"] == "voicemail"
        and (call["extensionid"], call["startdate"], call["callernum"]) in voicemails
    }


def expected_keys(world: World) -> set[Key]:
    """Every notification the world's events call for: calls (but `folded_calls`),
    voicemails and inbound texts."""
    keys: set[Key] = set()
    for call in world.calls:
        kind = "missed_call" if call["seconds"] == 0 else "call"
        keys.add((kind, call["extensionid"], call["startdate"], call["callernum"]))
    keys -= folded_calls(world)
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


#: The chaos receiver's cap on one post (recordings arrive in it, base64-encoded).
RECEIVER_MAX_BODY = 64 * 1024 * 1024


class Receiver(JsonReceiver):
    """The shared json:// receiver (failing a share of posts with `fail_rate`, holding them
    with `delay_s`), read as the event keys its notifications name."""

    def keys(self) -> Counter[Key]:
        return Counter(key for body in self.bodies for key in keys_in(body))


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
