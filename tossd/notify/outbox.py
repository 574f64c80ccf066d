"""`tossd outbox` and `tossd notify test`: the ledger and the targets, for people."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tossd.domain import DeliveryState
from tossd.notify.apprise.send import send
from tossd.notify.message import Message
from tossd.notify.render import render_test
from tossd.notify.routing import Route
from tossd.store.records import Delivery
from tossd.text.untrusted import one_line


def _when(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def render_outbox(rows: Sequence[Delivery]) -> str:
    """One line per ledger row, newest first; the error is already secret-masked."""
    header = ("ID", "STATE", "TRIES", "ROUTE", "TARGET", "EVENT", "NEXT/SENT", "LAST ERROR")
    lines = [header]
    for row in rows:
        moment = row.sent_at if row.state is DeliveryState.SENT else row.next_attempt_at
        if row.held_until is not None and row.state is not DeliveryState.SENT:
            moment = max(moment or 0, row.held_until)
        lines.append(
            (
                str(row.id),
                row.state,
                str(row.attempts),
                row.route,
                row.target_label,
                str(row.event_id) if row.event_id is not None else row.kind,
                _when(moment),
                one_line(row.last_error or "", 60),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        out.append(("  ".join(cells) + "  " + line[-1]).rstrip())
    return "\n".join(out) + "\n"


async def send_tests(routes: Sequence[Route], *, timeout_s: float) -> list[tuple[str, str, str]]:
    """Send a test message to every target; returns (route, target, "ok" or the error)."""
    results = []
    for route in routes:
        for target in route.targets:
            title, body = render_test(route.name, target.label)
            outcome = await send(
                target.url, Message(title, body), kind=target.info.kind, timeout_s=timeout_s
            )
            results.append(
                (route.name, target.label, "ok" if outcome.ok else f"FAILED: {outcome.error}")
            )
    return results
