"""Each send's result written to the ledger, and the results the ledger could not take.

A send that happened but whose result cannot be written (a full disk, a read-only or locked
database) must not be sent again for want of that write: the result is held here, in
memory, and written before anything else is sent (the deliverer holds every lane until
then). Only a crash while results are held repeats those notifications, as a crash between
a send and its record always could.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from tossd.domain import DeliveryKind
from tossd.errors import StoreError
from tossd.retry import RetryPolicy
from tossd.store.ledger import Ledger
from tossd.store.records import Delivery

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Failure:
    """What one failed attempt did to its rows: counted as failed, and dead when given up."""

    rows: int
    dead: int


@dataclass(frozen=True)
class _Held:
    ids: tuple[int, ...]
    action: str
    write: Callable[[], None]


class Results:
    """Writes results only while this sender's claim holds (`owner`), or holds them."""

    def __init__(
        self, ledger: Ledger, retry: RetryPolicy, owner: str, rand: Callable[[], float]
    ) -> None:
        self._ledger = ledger
        self._retry = retry
        self._owner = owner
        self._rand = rand
        self._held: list[_Held] = []

    @property
    def held(self) -> int:
        """Rows whose result is known but not yet written."""
        return sum(len(item.ids) for item in self._held)

    def flush(self) -> bool:
        """Write the held results, oldest first; True once none is left (nothing may be sent
        before: each new send's result would be just as unwritable)."""
        while self._held:
            item = self._held[0]
            try:
                item.write()
            except StoreError as exc:
                log.warning("delivery.still_unrecorded", rows=self.held, error=exc.message)
                return False
            self._held.pop(0)
            log.info("delivery.recorded_late", ids=list(item.ids), result=item.action)
        return True

    def sent(self, ids: Sequence[int], now: int) -> None:
        self._write(ids, "sent", lambda: self._ledger.mark_sent(ids, now, owner=self._owner))

    def failed(self, rows: Sequence[Delivery], error: str, now: int) -> tuple[Failure, int | None]:
        """Schedule the retry of one failed attempt (None: given up); returns what it did."""
        ids = [row.id for row in rows]
        attempts = max(row.attempts for row in rows) + 1
        retry_at = self._retry.next_attempt(
            failures=attempts,
            created_at=min(row.created_at for row in rows),
            now=now,
            rand=self._rand(),
        )
        self._write(
            ids,
            "failed",
            lambda: self._ledger.mark_failed(ids, error, retry_at, owner=self._owner),
        )
        # Alerts that die are not alerted about again: that would loop on a dead target.
        dead = retry_at is None and rows[0].kind is not DeliveryKind.ALERT
        return Failure(rows=len(ids), dead=len(ids) if dead else 0), retry_at

    def _write(self, ids: Sequence[int], action: str, write: Callable[[], None]) -> None:
        item = _Held(tuple(ids), action, write)
        # Behind results already held: they are written in the order they happened.
        if not self._held:
            try:
                write()
                return
            except StoreError as exc:
                log.error(
                    "delivery.unrecorded",
                    ids=list(ids),
                    result=action,
                    error=exc.message,
                    advice="sends are held until the result can be written (disk full?)",
                )
        self._held.append(item)
