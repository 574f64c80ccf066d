"""Grouping due ledger rows into sends (pure): one lane per target URL, one send per batch.

A row names its route and its target's identity; the route's current target of that
identity gives the URL it goes to now, and the URL gives the lane, so two routes that share
a URL share its lane (and its breaker). Rows held for quiet hours go together as one digest
per (route, target), and so do the rows of a burst: more than `max_per_cycle` due at once for
one (route, target) are one message, not a flood. Rows whose route or target is gone are
handed back as orphans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tossd.notify.routing import Route, Target
from tossd.store.records import Delivery

#: Rows read per dispatch: a burst's digest tells up to this many at once.
DUE_PER_CYCLE = 1000


@dataclass(frozen=True)
class Batch:
    """Rows sent by one Apprise call: one row, or one quiet-hours digest."""

    route: Route
    target: Target
    rows: list[Delivery]
    burst: bool = False

    @property
    def digest(self) -> bool:
        """Told as one digest: held for quiet hours, or a burst."""
        return self.burst or self.rows[0].held_until is not None

    def keeping(self, ids: set[int]) -> Batch | None:
        """This batch with only the rows of `ids` (those claimed); None if none is left."""
        kept = [row for row in self.rows if row.id in ids]
        return Batch(self.route, self.target, kept, self.burst) if kept else None


def batches_by_lane(
    due: Sequence[Delivery], routes: Mapping[str, Route], max_per_cycle: int | None = None
) -> tuple[dict[str, list[Batch]], list[Delivery]]:
    """The due rows as batches per lane (the target URL's fingerprint), in due order, and
    the rows whose route or target is no longer configured."""
    lanes: dict[str, list[Batch]] = defaultdict(list)
    singles: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
    digests: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
    orphans: list[Delivery] = []
    found: dict[tuple[str, str], tuple[Route, Target]] = {}
    for row in due:
        route = routes.get(row.route)
        target = route.target(row.target) if route else None
        if route is None or target is None:
            orphans.append(row)
        else:
            found[(row.route, row.target)] = (route, target)
            pile = singles if row.held_until is None else digests
            pile[(row.route, row.target)].append(row)
    for pair, rows in singles.items():
        route, target = found[pair]
        if max_per_cycle is not None and len(rows) > max_per_cycle:
            lanes[target.fingerprint].append(Batch(route, target, rows, burst=True))
        else:
            lanes[target.fingerprint] += [Batch(route, target, [row]) for row in rows]
    for pair, rows in digests.items():
        route, target = found[pair]
        lanes[target.fingerprint].append(Batch(route, target, rows))
    return dict(lanes), orphans
