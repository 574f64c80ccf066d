"""Keeping the ledger true to the config: rows whose route or target left it are orphaned,
and `tossd outbox retry --all` brings them and dead rows back onto the current routes.

A row names its target by identity (a target's `name`, else its place in the route), never by
URL, so correcting a URL keeps every row owed to it. Ledgers written before that named the
target by the URL's fingerprint; `adopt` renames those rows once at start.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import ColumnElement, Update, and_, delete, exists, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from tossd.domain import OWED_STATES, DeliveryState
from tossd.store import rows
from tossd.store.records import Delivery, PlannedDelivery
from tossd.store.scope import Scopes
from tossd.store.tables import DeliveryRow, unclaimed

#: The rows `tossd outbox retry --all` brings back: given up, or owed to a target now gone.
STRANDED_STATES = (DeliveryState.DEAD, DeliveryState.ORPHANED)
Pair = tuple[str, str]  # (route name, target identity)


class LedgerRepair:
    """Synchronous, one short transaction per call, on the ledger's engine."""

    def __init__(self, scopes: Scopes) -> None:
        self._scopes = scopes

    def adopt(self, identities: Mapping[tuple[str, str], str]) -> int:
        """Rows that name a target by (route, URL fingerprint) take its identity instead;
        returns how many. A row whose event already has a row under that identity stays."""
        other = aliased(DeliveryRow)
        renamed = 0
        with self._scopes.connection("adopt ledger rows", write=True) as connection:
            for (route, fingerprint), key in identities.items():
                clash = exists().where(
                    col(other.event_id) == col(DeliveryRow.event_id),
                    col(other.route) == route,
                    col(other.target) == key,
                )
                statement = (
                    update(DeliveryRow)
                    .where(
                        col(DeliveryRow.route) == route,
                        col(DeliveryRow.target) == fingerprint,
                        ~clash,
                    )
                    .values(target=key)
                )
                renamed += connection.execute(statement).rowcount
        return renamed

    def orphan_unknown(self, known: Collection[Pair], owner: str, now: int) -> dict[Pair, int]:
        """Owed rows whose (route, target) is not among `known` become orphaned (rows a
        live sender holds are left to it); returns the rows orphaned per pair."""
        pairs = select(col(DeliveryRow.route), col(DeliveryRow.target)).distinct()
        pairs = pairs.where(col(DeliveryRow.state).in_(OWED_STATES))
        orphaned: dict[Pair, int] = {}
        with self._scopes.connection("orphan ledger rows", write=True) as connection:
            owed = {(str(route), str(target)) for route, target in connection.execute(pairs)}
            for route, target in sorted(owed - set(known)):
                where = and_(col(DeliveryRow.route) == route, col(DeliveryRow.target) == target)
                count = connection.execute(_orphaning(where, owner, now)).rowcount
                if count:
                    orphaned[(route, target)] = count
        return orphaned

    def orphan(self, ids: Sequence[int], owner: str, now: int) -> int:
        """These owed rows lost their route or target: orphaned; returns how many."""
        if not ids:
            return 0
        statement = _orphaning(col(DeliveryRow.id).in_(list(ids)), owner, now)
        with self._scopes.connection("orphan ledger rows", write=True) as connection:
            return int(connection.execute(statement).rowcount)

    def stranded(self, ids: Sequence[int] = ()) -> list[Delivery]:
        """Dead and orphaned rows (of `ids`, if given), oldest first."""
        query = select(DeliveryRow).where(col(DeliveryRow.state).in_(STRANDED_STATES))
        if ids:
            query = query.where(col(DeliveryRow.id).in_(list(ids)))
        with self._scopes.session("read stranded deliveries") as session:
            found = session.scalars(query.order_by(col(DeliveryRow.id)))
            return [rows.delivery(row) for row in found]

    def revive(self, ids: Sequence[int], now: int) -> int:
        """Stranded rows whose target is configured again: owed, due now, holds lifted
        (their attempts are kept, so the history still shows); returns how many."""
        if not ids:
            return 0
        statement = (
            update(DeliveryRow)
            .where(col(DeliveryRow.id).in_(list(ids)), col(DeliveryRow.state).in_(STRANDED_STATES))
            .values(state=DeliveryState.RETRYING, next_attempt_at=now, held_until=None)
        )
        with self._scopes.connection("revive deliveries", write=True) as connection:
            return int(connection.execute(statement).rowcount)

    def replace(self, row: Delivery, planned: Sequence[PlannedDelivery], now: int) -> list[str]:
        """In one transaction: a new row per planned (route, target) the row's event (or
        payload) does not have yet, due now, and the stranded row removed; returns the
        routes of the rows created. An event already owed or sent there is not planned
        again, so re-planning never sends anything twice."""
        created: list[str] = []
        with self._scopes.session("re-plan a delivery", write=True) as session:
            old = session.get(DeliveryRow, row.id)
            if old is None or old.state not in STRANDED_STATES:
                return created  # another `retry --all` got there first
            for item in planned:
                if old.event_id is not None and _has_row(session, old.event_id, item):
                    continue
                session.add(
                    DeliveryRow(
                        event_id=old.event_id,
                        kind=old.kind,
                        route=item.route,
                        target=item.target,
                        target_label=item.target_label,
                        state=DeliveryState.PENDING,
                        attempts=0,
                        created_at=now,
                        next_attempt_at=now,
                        payload=old.payload,
                    )
                )
                created.append(item.route)
            session.flush()
            session.execute(delete(DeliveryRow).where(col(DeliveryRow.id) == old.id))
        return created


def _has_row(session: Session, event_id: int, item: PlannedDelivery) -> bool:
    query = select(col(DeliveryRow.id)).where(
        col(DeliveryRow.event_id) == event_id,
        col(DeliveryRow.route) == item.route,
        col(DeliveryRow.target) == item.target,
    )
    return session.scalars(query).first() is not None


def _orphaning(where: ColumnElement[bool], owner: str, now: int) -> Update:
    return (
        update(DeliveryRow)
        .where(
            where,
            col(DeliveryRow.state).in_(OWED_STATES),
            or_(unclaimed(now), col(DeliveryRow.claimed_by) == owner),
        )
        .values(state=DeliveryState.ORPHANED, claimed_by=None, claim_until=None)
    )
