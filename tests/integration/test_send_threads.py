"""Blocking Apprise sends run on daemon threads that are reused (tossd.notify.apprise.send):
many sends cost a few threads, as many as ran at once, never one each."""

from __future__ import annotations

import asyncio
import threading

from support.receivers import JsonReceiver

from tossd.domain import TargetKind
from tossd.notify.apprise.send import send
from tossd.notify.message import Message


def send_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("tossd-send"))


async def test_sends_reuse_their_threads(json_receiver: JsonReceiver) -> None:
    before = send_threads()
    url = json_receiver.url()
    for n in range(10):  # one after another: one thread serves them all
        result = await send(url, Message(f"t{n}", f"b{n}"), kind=TargetKind.JSON, timeout_s=5)
        assert result.ok, result.error
    assert send_threads() <= before + 1
    at_once = [
        send(url, Message(f"t{n}", f"b{n}"), kind=TargetKind.JSON, timeout_s=5) for n in range(4)
    ]
    assert all(r.ok for r in await asyncio.gather(*at_once))
    assert send_threads() <= before + 4
    assert len(json_receiver.posts) == 14
