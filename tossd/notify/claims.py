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
        self._hold_s = int(send_deadline_s) + 1 + CLAIM_SLACK_S
        self._clock = clock

    def take(self, batches: Sequence[list[Delivery]]) -> list[list[Delivery]]:
        """Claim every row of `batches` at once; the batches cut down to the rows won."""
        now = int(self._clock())
        ids = [row.id for batch in batches for row in batch]
        won = set(self._ledger.claim(ids, self.owner, now + self._hold_s, now))
        return [kept for batch in batches if (kept := [r for r in batch if r.id in won])]

    def renew(self, ids: Sequence[int]) -> bool:
        """Extend the claim just before sending; False if another sender took a row."""
        now = int(self._clock())
        return set(self._ledger.claim(ids, self.owner, now + self._hold_s, now)) == set(ids)

    def release(self, ids: Sequence[int]) -> None:
        self._ledger.release(ids, self.owner)
