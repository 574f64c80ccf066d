"""The Store's poll fence: on a node that shares its store, poll reads and commits are for
the leader only, and a commit carries the leader's term (see `tossd.store.lease`)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from tossd.errors import LeadershipLost
from tossd.store.lease import fence


class Fenced:
    """A part of `Store`: unfenced (a command, `tossd poll --once`) until `fenced_by`."""

    _term: Callable[[], int | None] | None = None

    def fenced_by(self, term: Callable[[], int | None]) -> None:
        """From now on, poll commits carry `term()` and are refused (`LeadershipLost`) once
        a newer leader took over, or while this node leads none (None)."""
        self._term = term

    def may_poll(self) -> bool:
        """Whether this node polls now: unfenced, or leading."""
        return self._term is None or self._term() is not None

    def check_leading(self) -> None:
        if not self.may_poll():
            raise LeadershipLost("this node is not the poll leader")

    def _fence(self, connection: Connection, now: int) -> None:
        if self._term is not None:
            term = self._term()
            if term is None:
                raise LeadershipLost("this node is not the poll leader")
            fence(connection, term, now)
