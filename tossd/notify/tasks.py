"""The sends in flight: their tasks and the rows they hold, so no row is started twice and a
shutdown can wait for them, then cancel the rest (their rows go back to the ledger)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Coroutine
from typing import Any

import structlog

from tossd.store.records import Delivery

log = structlog.get_logger(__name__)


class SendTasks:
    """One task per started send; `release` gives a cancelled send's rows back."""

    def __init__(self, release: Callable[[list[int]], None]) -> None:
        self._release = release
        self._rows: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def holds(self, row_id: int) -> bool:
        """Is a send of this row under way in this process?"""
        return row_id in self._rows

    def start(self, rows: list[Delivery], job: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        ids = {row.id for row in rows}
        self._rows |= ids
        task = asyncio.create_task(job)
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._rows -= ids
            if finished.cancelled():  # shutdown: give the rows back for the next sender
                self._release(list(ids))
            elif error := finished.exception():  # a write before the send: nothing was sent
                log.error("delivery.job_failed", error=str(error), ids=sorted(ids))

        task.add_done_callback(done)
        return task

    async def settle(self, timeout: float) -> int:
        """Wait up to `timeout` for the sends in flight, then cancel the rest (they stay
        owed and are sent again); returns how many were cancelled."""
        return await settle(self._tasks, timeout)


async def settle(tasks: Collection[asyncio.Task[Any]], timeout: float) -> int:
    """Wait up to `timeout` for `tasks`, then cancel the rest and give them a second to
    unwind; returns how many were cancelled. The daemon's stop uses it for its jobs too."""
    pending = set(tasks)
    if pending:
        _done, pending = await asyncio.wait(pending, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1.0)
    return len(pending)
