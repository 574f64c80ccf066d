"""The delivery ledger: every notification owed, from pending to sent (or dead).

A row is planned in the same transaction that marks its event planned, so an announced
event can never end up without its rows; a row is marked sent only after its target
accepted it, so a crash in between repeats that one notification and loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from sqlalchemy import ColumnElement, Engine, and_, func, not_, or_, true, update
from sqlmodel import col, select

from tossd.domain import OWED_STATES, DeliveryKind, DeliveryState, EventKind, StoredEvent
from tossd.store import rows
from tossd.store.ledger_repair import LedgerRepair
from tossd.store.records import Delivery, PlannedDelivery
from tossd.store.scope import Scopes
from tossd.store.tables import DeliveryRow, EventRow, unclaimed

PENDING, RETRYING, SENT, DEAD = (DeliveryState[s] for s in ("PENDING", "RETRYING", "SENT", "DEAD"))
OPEN_STATES = OWED_STATES
MAX_ERROR_CHARS = 500

Router = Callable[[StoredEvent], Sequence[PlannedDelivery]]


class Ledger:
    """Synchronous, one short transaction per call, like the Store it shares an engine with."""

    def __init__(self, engine: Engine) -> None:
        self._scopes = Scopes(engine)
        self._transaction = self._scopes.session

    def repair(self) -> LedgerRepair:
        """Orphaning and re-planning, for config edits (see `tossd.store.ledger_repair`)."""
        return LedgerRepair(self._scopes)

    def plan(self, router: Router, now: int, *, limit: int = 500) -> int:
        """Turn announced, unplanned events into ledger rows; returns the rows created."""
        query = (
            select(EventRow)
            .where(col(EventRow.planned_at).is_(None), col(EventRow.announce).is_(True))
            .order_by(col(EventRow.id))
            .limit(limit)
            # Two nodes planning at once take disjoint events (PostgreSQL; SQLite: one writer).
            .with_for_update(skip_locked=True)
        )
        created = 0
        with self._transaction("plan deliveries", write=True) as session:
            for row in session.exec(query).all():
                for planned in router(rows.stored_event(row)):
                    session.add(_new_row(row.id, planned, now))
                    created += 1
                row.planned_at = now
        return created

    def add(
        self, kind: DeliveryKind, planned: Sequence[PlannedDelivery], payload: str, now: int
    ) -> list[int]:
        """Rows that belong to no event (reports, alerts), their message in `payload`: ids."""
        with self._transaction("add deliveries", write=True) as session:
            added = []
            for item in planned:
                row = _new_row(None, item, now)
                row.kind, row.payload = kind, payload
                session.add(row)
                added.append(row)
            session.flush()
            return [row.id for row in added if row.id is not None]

    def due(
        self,
        now: int,
        *,
        limit: int = 200,
        beyond_s: float | None = None,
        skip: Collection[tuple[str, str]] = (),
    ) -> list[Delivery]:
        """Open rows whose time has come (quiet-hour rows once their window ended).

        With `beyond_s`, rows scheduled more than that far ahead come too: no retry is ever
        scheduled so far, so the clock was set back since; the caller decides per row.
        Rows of the (route, target) pairs in `skip` are left out: rows a sender would not
        send now (their target's breaker is open) must not fill `limit` and hide the rest.
        """
        when = col(DeliveryRow.next_attempt_at) <= now
        if beyond_s is not None:
            when = or_(when, col(DeliveryRow.next_attempt_at) > now + beyond_s)
        held = [
            and_(col(DeliveryRow.route) == route, col(DeliveryRow.target) == target)
            for route, target in skip
        ]
        query = (
            select(DeliveryRow)
            .where(
                col(DeliveryRow.state).in_(OPEN_STATES),
                when,
                func.coalesce(col(DeliveryRow.held_until), 0) <= now,
                unclaimed(now),
                not_(or_(*held)) if held else true(),
            )
            .order_by(col(DeliveryRow.next_attempt_at), col(DeliveryRow.id))
            .limit(limit)
        )
        with self._transaction("read due deliveries") as session:
            return [rows.delivery(row) for row in session.exec(query)]

    def events(self, ids: Sequence[int]) -> dict[int, StoredEvent]:
        """The events some deliveries are about, by id."""
        query = select(EventRow).where(col(EventRow.id).in_(list(set(ids))))
        with self._transaction("read events") as session:
            return {event.id: event for event in map(rows.stored_event, session.exec(query))}

    def payload(self, delivery_id: int) -> str | None:
        with self._transaction("read a delivery") as session:
            row = session.get(DeliveryRow, delivery_id)
            return None if row is None else row.payload

    def claim(self, ids: Sequence[int], owner: str, until: int, now: int) -> list[int]:
        """Claim (or renew) the owed rows among `ids` that nobody else holds (or whose claim
        expired), in one statement; returns the ids `owner` now holds. Two senders never
        both get a row, so no row is sent twice by two processes."""
        if not ids:
            return []
        takeable = (
            col(DeliveryRow.id).in_(list(ids)),
            col(DeliveryRow.state).in_(OPEN_STATES),
            or_(unclaimed(now), col(DeliveryRow.claimed_by) == owner),
        )
        # PostgreSQL: rows another node is claiming this instant are skipped, not waited for
        # (FOR UPDATE SKIP LOCKED; SQLite, one writer at a time, renders no FOR UPDATE).
        free = select(DeliveryRow.id).where(*takeable).with_for_update(skip_locked=True)
        statement = (
            update(DeliveryRow)
            .where(col(DeliveryRow.id).in_(free.scalar_subquery()), *takeable)
            .values(claimed_by=owner, claim_until=until)
            .returning(col(DeliveryRow.id))
        )
        with self._scopes.connection("claim deliveries", write=True) as connection:
            claimed = connection.execute(statement).scalars()
            return sorted(int(row_id) for row_id in claimed if row_id is not None)

    def voicemails_between(self, extensionid: int, start: int, end: int) -> list[StoredEvent]:
        """The voicemails of one number stamped within [start, end] (a call's, to fold it)."""
        query = select(EventRow).where(
            col(EventRow.kind) == EventKind.VOICEMAIL,
            col(EventRow.extensionid) == extensionid,
            col(EventRow.occurred_at).between(start, end),
        )
        with self._transaction("read voicemails") as session:
            return [rows.stored_event(row) for row in session.exec(query)]

    def mark_folded(self, ids: Sequence[int], *, owner: str | None = None) -> None:
        """Told by its voicemail's notification: never sent as a call of its own."""
        self._update(ids, "record a folded call", owner=owner, state=DeliveryState.FOLDED)

    def mark_sent(self, ids: Sequence[int], now: int, *, owner: str | None = None) -> None:
        # The successful send is an attempt too: `tossd outbox` shows 1 for a first-time send.
        values = {"state": SENT, "sent_at": now, "last_error": None}
        values["attempts"] = col(DeliveryRow.attempts) + 1
        self._update(ids, "record a sent delivery", owner=owner, **values)

    def mark_failed(
        self,
        ids: Sequence[int],
        error: str,
        next_attempt_at: int | None,
        *,
        owner: str | None = None,
    ) -> None:
        """One more failed attempt: retried at `next_attempt_at`, or dead when None."""
        values: dict[str, object] = {
            "state": DEAD if next_attempt_at is None else RETRYING,
            "last_error": error[:MAX_ERROR_CHARS],
            "attempts": col(DeliveryRow.attempts) + 1,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        self._update(ids, "record a failed delivery", owner=owner, **values)

    def postpone(self, ids: Sequence[int], until: int, *, owner: str | None = None) -> None:
        """Not an attempt (e.g. waiting for the voicemail audio): just later."""
        self._update(ids, "postpone a delivery", owner=owner, next_attempt_at=until)

    def release(self, ids: Sequence[int], owner: str) -> None:
        """Give rows back untouched (a send not made after all): others may take them."""
        self._update(ids, "release deliveries", owner=owner)

    def retry(self, now: int, *, ids: Sequence[int] = (), include_dead: bool = False) -> int:
        """Make undelivered rows due now (`tossd outbox retry`); returns how many.

        Quiet-hour holds are lifted too: asking for a retry means "now". Dead rows come back
        (as retrying, their attempts kept) only with `include_dead`.
        """
        states = (*OPEN_STATES, DEAD) if include_dead else OPEN_STATES
        query = select(DeliveryRow).where(col(DeliveryRow.state).in_(states))
        if ids:
            query = query.where(col(DeliveryRow.id).in_(list(ids)))
        with self._transaction("retry deliveries", write=True) as session:
            found = session.exec(query).all()
            for row in found:
                row.state = RETRYING if row.state == DEAD else row.state
                row.next_attempt_at = now
                row.held_until = None
            return len(found)

    def rows(self, ids: Sequence[int]) -> list[Delivery]:
        """These rows as they are now, in id order."""
        query = select(DeliveryRow).where(col(DeliveryRow.id).in_(list(ids)))
        with self._transaction("read deliveries") as session:
            return [rows.delivery(row) for row in session.exec(query.order_by(col(DeliveryRow.id)))]

    def listing(self, *, state: DeliveryState | None = None, limit: int = 100) -> list[Delivery]:
        """Newest first."""
        query = select(DeliveryRow).order_by(col(DeliveryRow.id).desc()).limit(limit)
        if state is not None:
            query = query.where(col(DeliveryRow.state) == state)
        with self._transaction("list deliveries") as session:
            return [rows.delivery(row) for row in session.exec(query)]

    def counts(self) -> dict[str, int]:
        query = select(DeliveryRow.state, func.count()).group_by(col(DeliveryRow.state))
        with self._transaction("count deliveries") as session:
            found = {state: int(count) for state, count in session.exec(query)}
        return {state: found.get(state, 0) for state in DeliveryState}

    def _update(
        self, ids: Sequence[int], action: str, *, owner: str | None, **values: object
    ) -> None:
        """A plain Core UPDATE on a connection: on the hot path, the ORM session costs 3x.

        With `owner`, only rows that sender still holds change (a result is recorded only
        while its claim holds), and the claim is let go.
        """
        if not ids:
            return
        where: list[ColumnElement[bool]] = [col(DeliveryRow.id).in_(list(ids))]
        if owner is not None:
            where.append(col(DeliveryRow.claimed_by) == owner)
            values |= {"claimed_by": None, "claim_until": None}
        statement = update(DeliveryRow).where(*where).values(values)
        with self._scopes.connection(action, write=True) as connection:
            connection.execute(statement)


def _new_row(event_id: int | None, planned: PlannedDelivery, now: int) -> DeliveryRow:
    return DeliveryRow(
        event_id=event_id,
        kind=DeliveryKind.EVENT,
        route=planned.route,
        target=planned.target,
        target_label=planned.target_label,
        state=PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        held_until=planned.held_until,
    )
