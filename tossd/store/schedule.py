"""Which numbers to visit next: voicemail boxes a call made due, the sweep, per-number turns.

Kept in `poll_state`, so the order survives restarts and is shared by `tossd poll --once`
runs and the daemon alike: each visit moves its number to the back of the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection, func

from tossd.domain import ACCOUNT, Stream
from tossd.store.queries import POLL_STATE, insert_state
from tossd.store.records import PollState
from tossd.store.scope import Scopes
from tossd.store.tables import metadata

EXTENSIONS = metadata.tables["extensions"]
_VOICEMAIL = Stream.VOICEMAIL.value


@dataclass(frozen=True)
class BoxDue:
    """A call (`identity`) that may have reached `extensionid`'s voicemail: check the box
    until `until`; applied only if the call is new."""

    identity: str
    extensionid: int
    call_at: int
    until: int


def _later(column: sa.ColumnElement[int], value: sa.BindParameter[int]) -> sa.Case[int]:
    # Portable max(): SQLite's MAX(a, b) is PostgreSQL's GREATEST(a, b).
    return sa.case((sa.or_(column.is_(None), column < value), value), else_=column)


_KEY = sa.and_(
    POLL_STATE.c.extensionid == sa.bindparam("key_extensionid"),
    POLL_STATE.c.stream == _VOICEMAIL,
)
_CALL_AT = sa.bindparam("call_at", type_=sa.BigInteger)
_UNTIL = sa.bindparam("until", type_=sa.BigInteger)
_MARK_DUE = (
    sa.update(POLL_STATE)
    .where(_KEY)
    .values(
        due_call_at=_later(POLL_STATE.c.due_call_at, _CALL_AT),
        due_until=_later(POLL_STATE.c.due_until, _UNTIL),
    )
)
# Done with a box once it lists a voicemail at least as new as the call awaited, or once the
# wait is over (the call was answered by a person, or its voicemail never came).
_CLEAR_DUE = (
    sa.update(POLL_STATE)
    .where(
        _KEY,
        POLL_STATE.c.due_until.is_not(None),
        sa.or_(
            POLL_STATE.c.due_until <= sa.bindparam("now", type_=sa.BigInteger),
            POLL_STATE.c.watermark >= POLL_STATE.c.due_call_at,
        ),
    )
    .values(due_call_at=None, due_until=None)
)
_DUE_BOXES = (
    sa.select(POLL_STATE.c.extensionid)
    .join(EXTENSIONS, EXTENSIONS.c.extensionid == POLL_STATE.c.extensionid)
    .where(
        POLL_STATE.c.stream == _VOICEMAIL,
        POLL_STATE.c.due_until.is_not(None),
        EXTENSIONS.c.active.is_(True),
    )
    .order_by(POLL_STATE.c.due_call_at, POLL_STATE.c.extensionid)
)


def mark_due(connection: Connection, due: Sequence[BoxDue], now: int) -> None:
    """Note boxes to check (in the transaction that stored the calls that made them due)."""
    for box in due:
        values = {"key_extensionid": box.extensionid, "call_at": box.call_at, "until": box.until}
        if connection.execute(_MARK_DUE, values).rowcount:
            continue
        # A box never checked: its first check is a first sight, like any new number's.
        insert_state(
            connection,
            box.extensionid,
            Stream.VOICEMAIL,
            now,
            last_attempt_at=0,
            due_call_at=box.call_at,
            due_until=box.until,
        )


def clear_due(connection: Connection, extensionid: int, now: int) -> None:
    connection.execute(_CLEAR_DUE, {"key_extensionid": extensionid, "now": now})


class PollSchedule:
    """Read-only questions about what to poll next, one short transaction each."""

    def __init__(self, scopes: Scopes) -> None:
        self._connection = scopes.connection

    def due_boxes(self) -> list[int]:
        """Active numbers whose voicemail box a recent call made due, oldest call first."""
        with self._connection("list voicemail boxes due") as connection:
            return [int(e) for e in connection.execute(_DUE_BOXES).scalars()]

    def least_recent(self, stream: Stream, count: int, *, skip: Sequence[int] = ()) -> list[int]:
        """Up to `count` active numbers whose `stream` was tried longest ago (never: first)."""
        if count <= 0:
            return []
        state = POLL_STATE.alias("state")
        joined = EXTENSIONS.outerjoin(
            state,
            sa.and_(
                state.c.extensionid == EXTENSIONS.c.extensionid, state.c.stream == stream.value
            ),
        )
        query = (
            sa.select(EXTENSIONS.c.extensionid)
            .select_from(joined)
            .where(EXTENSIONS.c.active.is_(True), EXTENSIONS.c.extensionid.not_in(skip))
            .order_by(func.coalesce(state.c.last_attempt_at, -1), EXTENSIONS.c.extensionid)
            .limit(count)
        )
        with self._connection("list numbers to poll") as connection:
            return [int(e) for e in connection.execute(query).scalars()]

    def floor(self, stream: Stream) -> PollState | None:
        """The oldest per-number watermark of `stream`, as an account-wide state: where an
        account-wide window must start when it takes over from per-number polling."""
        query = sa.select(
            func.min(POLL_STATE.c.watermark), func.min(POLL_STATE.c.first_polled_at)
        ).where(
            POLL_STATE.c.stream == stream.value,
            POLL_STATE.c.extensionid != ACCOUNT,
            POLL_STATE.c.watermark.is_not(None),
        )
        with self._connection("read the per-number watermarks") as connection:
            watermark, first_polled_at = connection.execute(query).one()
        if watermark is None:
            return None
        return PollState(
            extensionid=ACCOUNT,
            stream=stream,
            watermark=int(watermark),
            last_success_at=None,
            last_attempt_at=0,
            last_error=None,
            consecutive_failures=0,
            first_polled_at=None if first_polled_at is None else int(first_polled_at),
        )
