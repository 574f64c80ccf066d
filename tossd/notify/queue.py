"""Messages that belong to no event (reports, tossd's own alerts), queued in the ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tossd.domain import DeliveryKind, Notice
from tossd.notify.message import Message, encode_message
from tossd.notify.routing import Route, Target
from tossd.store.ledger import Ledger
from tossd.store.records import PlannedDelivery


def enqueue(
    ledger: Ledger,
    routes: Iterable[Route],
    kind: DeliveryKind,
    notice: Notice,
    render: Callable[[Target], Message | None],
    now: int,
) -> list[int]:
    """One row per target of every route listening to `notice`; returns the row ids.

    Each row carries its rendered message (per target: an email may get HTML where Slack
    gets text); a target `render` gives None for gets no row.
    """
    ids: list[int] = []
    for route in routes:
        if notice not in route.events:
            continue
        for target in route.targets:
            message = render(target)
            if message is None:
                continue
            planned = PlannedDelivery(route.name, target.key, target.label)
            ids += ledger.add(kind, [planned], encode_message(message), now)
    return ids
