"""Config edits and the ledger: rows follow their target's identity across URL edits; rows
of a route or target that left the config are orphaned (never silently dead), and
`tossd outbox retry --all` puts them, and dead rows, back onto the current routes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from tossd.domain import DeliveryKind, DeliveryState, KnownExtension, Notice, StoredEvent
from tossd.notify.routing import Route, plan_deliveries
from tossd.store.ledger import Ledger
from tossd.store.records import Delivery, PlannedDelivery

log = structlog.get_logger(__name__)

#: What routes listen to for the rows that belong to no event.
_NOTICE_OF = {DeliveryKind.REPORT: Notice.REPORT, DeliveryKind.ALERT: Notice.TOSSD_ERROR}


def reconcile(ledger: Ledger, routes: Sequence[Route], owner: str, now: int) -> int:
    """At start: rows of older ledgers take their target's identity, owed rows whose route
    or target is gone are orphaned, and one warning says how many rows are orphaned in all
    (with what to do). Returns that number."""
    repair = ledger.repair()
    adopted = repair.adopt({(r.name, t.fingerprint): t.key for r in routes for t in r.targets})
    if adopted:
        log.info("delivery.adopted", rows=adopted)
    known = {(route.name, target.key) for route in routes for target in route.targets}
    newly = repair.orphan_unknown(known, owner, now)
    total = ledger.counts()[DeliveryState.ORPHANED]
    if total:
        log.warning(
            "delivery.orphaned",
            rows=total,
            new=sum(newly.values()),
            routes=sorted({route for route, _target in newly}),
            hint="their route or target left the config; "
            "`tossd outbox retry --all` re-plans them onto the current routes",
        )
    return total


@dataclass
class Replanned:
    """What re-planning did with the dead and orphaned rows it was given."""

    #: Their target is configured: owed again, due now.
    revived: int = 0
    #: New rows, per route, for rows whose target is gone.
    moved: Counter[str] = field(default_factory=Counter)
    #: Already owed (or sent) wherever the current routes would send them.
    covered: int = 0
    #: Left orphaned: no current route takes them.
    left: int = 0

    @property
    def due(self) -> int:
        return self.revived + sum(self.moved.values())

    def line(self) -> str | None:
        """One line for people, or None when nothing was re-planned."""
        parts = []
        if self.moved:
            where = ", ".join(f"{route} ({n})" for route, n in sorted(self.moved.items()))
            parts.append(f"re-planned onto current routes: {where}")
        if self.covered:
            parts.append(f"{self.covered} already owed or sent there")
        if self.left:
            parts.append(f"{self.left} left orphaned: no current route takes them")
        return "; ".join(parts) or None


def replan(
    ledger: Ledger,
    routes: Sequence[Route],
    extensions: Mapping[int, KnownExtension],
    now: int,
    *,
    ids: Sequence[int] = (),
) -> Replanned:
    """Dead and orphaned rows (of `ids`, if given) back onto the current routes: a row whose
    target is still configured is revived; any other row is replaced by rows planned for
    its event (or message) on the current routes, as a new event's would be."""
    repair = ledger.repair()
    stranded = repair.stranded(ids)
    known = {(route.name, target.key) for route in routes for target in route.targets}
    result = Replanned()
    result.revived = repair.revive([r.id for r in stranded if (r.route, r.target) in known], now)
    gone = [row for row in stranded if (row.route, row.target) not in known]
    events = ledger.events([row.event_id for row in gone if row.event_id is not None])
    for row in gone:
        planned = _plan(row, events, extensions, routes, now)
        if not planned:
            result.left += 1
            continue
        created = repair.replace(row, planned, now)
        result.moved.update(created)
        result.covered += not created
    if result.moved or result.left:
        log.info(
            "delivery.replanned",
            revived=result.revived,
            moved=dict(result.moved),
            covered=result.covered,
            left=result.left,
        )
    return result


def _plan(
    row: Delivery,
    events: Mapping[int, StoredEvent],
    extensions: Mapping[int, KnownExtension],
    routes: Sequence[Route],
    now: int,
) -> list[PlannedDelivery]:
    if row.kind is not DeliveryKind.EVENT:
        notice = _NOTICE_OF[row.kind]
        return [
            PlannedDelivery(route.name, target.key, target.label)
            for route in routes
            if notice in route.events
            for target in route.targets
        ]
    event = events.get(row.event_id) if row.event_id is not None else None
    if event is None:
        return []  # its event was pruned: nothing left to announce
    return plan_deliveries(event, extensions.get(event.extensionid), routes, now)
