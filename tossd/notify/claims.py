"""This sender's hold on ledger rows: what it claimed, no other process sends meanwhile.

The daemon, `tossd outbox retry` and a second daemon on a shared store each claim rows
before sending (one UPDATE ... RETURNING, in `Ledger.claim`), renew the claim right before
the send itself (a row may wait a while for its lane), and record a result only while the
claim holds. A claim outlives the send deadline by `CLAIM_SLACK_S`; one left by a killed
sender expires and the row is taken by whoever comes next.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Sequence

from tossd.store.ledger import Ledger
from tossd.store.records import Delivery

#: How much longer than the send deadline a claim lasts.
CLAIM_SLACK_S = 5


class Claims:
    def __init__(self, ledger: Ledger, send_deadline_s: float, clock: Callable[[], float]):
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._ledger = ledger
        self._deadline_s = int(send_deadline_s) + 1
        self._hold_s = self._deadline_s + CLAIM_SLACK_S
        self._clock = clock
        #: Until when this sender holds each row it claimed (as written in the ledger).
        self._held: dict[int, int] = {}

    def take(self, batches: Sequence[list[Delivery]]) -> list[list[Delivery]]:
        """Claim every row of `batches` at once; the batches cut down to the rows won."""
        now = int(self._clock())
        ids = [row.id for batch in batches for row in batch]
        won = set(self._claim(ids, now))
        return [kept for batch in batches if (kept := [r for r in batch if r.id in won])]

    def renew(self, ids: Sequence[int]) -> bool:
        """Make sure the claim outlasts a send started now; False if another sender took a
        row. A claim taken moments ago already does (most rows wait in their lane a few
        milliseconds): it is extended in the ledger only once its slack is used up, and
        then for every row this sender still holds, in the same statement: rows claimed
        together run out together, and a backlog of a thousand was a thousand UPDATEs."""
        now = int(self._clock())
        if all(self._held.get(i, now) > now + self._deadline_s for i in ids):
            return True
        waiting = [i for i, until in self._held.items() if until > now and i not in ids]
        return set(ids) <= set(self._claim([*ids, *waiting], now))

    def release(self, ids: Sequence[int]) -> None:
        self.settled(ids)
        self._ledger.release(ids, self.owner)

    def settled(self, ids: Sequence[int]) -> None:
        """These rows' results are recorded (which let their claim go): no longer held."""
        for i in ids:
            self._held.pop(i, None)

    def _claim(self, ids: Sequence[int], now: int) -> list[int]:
        # Forget claims that ran out: rows sent since, or taken by another sender.
        self._held = {i: until for i, until in self._held.items() if until > now}
        won = self._ledger.claim(ids, self.owner, now + self._hold_s, now)
        self._held.update(dict.fromkeys(won, now + self._hold_s))
        return won
