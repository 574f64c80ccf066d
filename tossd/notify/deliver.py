"""Draining the delivery ledger: plan rows for new events, send what is due, record results.

Each ledger row is sent by its own Apprise call to its one target URL and judged by that
call's result alone, so a dead target never makes tossd re-send to a healthy one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from tossd.config.routes import DeliveryConfig
from tossd.domain import DeliveryKind, KnownExtension, Notice, StoredEvent
from tossd.errors import TemplateRenderError
from tossd.notify.apprise.send import send as apprise_send
from tossd.notify.attach import AudioLimits, Postpone, digest_recordings, recording
from tossd.notify.message import Message, SendResult, decode_message, encode_message
from tossd.notify.render import render_digest, render_event
from tossd.notify.routing import Route, Target, plan_deliveries
from tossd.store.ledger import Ledger
from tossd.store.records import Delivery, PlannedDelivery
from tossd.store.store import Store

log = structlog.get_logger(__name__)

#: Tolerance, in seconds, before a retry time is judged to come from a clock set back since.
CLOCK_SLACK_S = 60
Send = Callable[..., Awaitable[SendResult]]


@dataclass
class DrainReport:
    planned: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    postponed: int = 0


class Deliverer:
    """Owns the sending side of the daemon; `drain()` is safe to call at any time."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        routes: Sequence[Route],
        config: DeliveryConfig,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        send: Send = apprise_send,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._routes = {route.name: route for route in routes}
        self._config = config
        self._retry = config.retry_policy
        self._clock = clock
        self._rand = rand
        self._send = send
        self._slots = asyncio.Semaphore(config.concurrency)
        self._lock = asyncio.Lock()
        self._extensions: dict[int, KnownExtension] = {}

    def _now(self) -> int:
        return int(self._clock())

    def plan(self) -> int:
        """Ledger rows for every announced event not yet planned (one transaction)."""
        now = self._now()
        routes = list(self._routes.values())

        def router(event: StoredEvent) -> list[PlannedDelivery]:
            return plan_deliveries(event, self._extensions.get(event.extensionid), routes, now)

        return self._ledger.plan(router, now)

    def enqueue(
        self, kind: DeliveryKind, notice: Notice, render: Callable[[Target], Message | None]
    ) -> list[int]:
        """Queue a message for every target of every route listening to `notice`: row ids.

        For reports and tossd's own alerts: they belong to no event, so each row carries its
        rendered message (per target: an email may get HTML where Slack gets text).
        """
        now = self._now()
        ids: list[int] = []
        for route in self._routes.values():
            if notice not in route.events:
                continue
            for target in route.targets:
                message = render(target)
                if message is None:
                    continue
                planned = PlannedDelivery(route.name, target.fingerprint, target.label)
                ids += self._ledger.add(kind, [planned], encode_message(message), now)
        return ids

    def enqueue_report(self, messages: Sequence[tuple[Target, Message]]) -> list[int]:
        """The daily report: each target's own rendering (HTML for email, chart if it fits)."""
        by_target = {target.fingerprint: message for target, message in messages}
        return self.enqueue(
            DeliveryKind.REPORT, Notice.REPORT, lambda target: by_target.get(target.fingerprint)
        )

    async def drain(self, only: Collection[int] | None = None) -> DrainReport:
        """Plan, then send every due row (or only the rows `only` names); one at a time."""
        async with self._lock:
            # Numbers are few and change hourly: read them once per drain, not per event.
            self._extensions = {e.extensionid: e for e in self._store.all_extensions()}
            report = DrainReport(planned=self.plan())
            now = self._now()
            due = [
                row
                for row in self._ledger.due(now, beyond_s=CLOCK_SLACK_S)
                if (row.next_attempt_at <= now or not self._plausible(row, now))
                and (only is None or row.id in only)
            ]
            if not due:
                return report
            events = self._ledger.events([d.event_id for d in due if d.event_id is not None])
            singles = [d for d in due if d.held_until is None]
            digests: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
            for row in due:
                if row.held_until is not None:
                    digests[(row.route, row.target)].append(row)
            jobs = [self._one(row, events, report) for row in singles]
            jobs += [self._digest(rows, events, report) for rows in digests.values()]
            await asyncio.gather(*jobs)
            log.info("delivery.drained", **vars(report))
            return report

    async def _one(
        self, row: Delivery, events: dict[int, StoredEvent], report: DrainReport
    ) -> None:
        found = self._resolve(row, events, report)
        if found is None:
            return
        route, target, event = found
        if event is None:  # a report or an alert: its message was stored with the row
            message = decode_message(self._ledger.payload(row.id) or "{}")
            await self._attempt([row], target, message, report)
            return
        try:
            attachments, note = recording(self._store, event, route, target, self._limits())
        except Postpone:
            self._ledger.postpone([row.id], self._now() + 5)
            report.postponed += 1
            return
        extension = self._extensions.get(event.extensionid)
        try:
            title, body = render_event(
                event,
                extension,
                kind=target.info.kind,
                tz=route.tz,
                audio_note=note,
                title_template=route.title_template,
                body_template=route.body_template,
            )
        except TemplateRenderError as exc:
            log.warning("template.failed", route=route.name, error=exc.message)
            title, body = exc.fallback
        await self._attempt([row], target, Message(title, body, attachments), report)

    async def _digest(
        self, rows: list[Delivery], events: dict[int, StoredEvent], report: DrainReport
    ) -> None:
        found = self._resolve(rows[0], events, report)
        if found is None:
            return
        route, target, _ = found
        rows = [r for r in rows if r.event_id in events]
        items = [
            (events[r.event_id], self._extensions.get(events[r.event_id].extensionid))
            for r in rows
            if r.event_id in events
        ]
        items.sort(key=lambda item: item[0].occurred_at)
        held = datetime.fromtimestamp(rows[0].held_until or self._now(), route.tz)
        title, body = render_digest(
            items,
            route=route.name,
            kind=target.info.kind,
            tz=route.tz,
            held_until_text=held.strftime("%H:%M"),
        )
        events_held = [event for event, _ in items]
        attachments = digest_recordings(self._store, events_held, route, target, self._limits())
        await self._attempt(rows, target, Message(title, body, attachments), report)

    def _resolve(
        self, row: Delivery, events: dict[int, StoredEvent], report: DrainReport
    ) -> tuple[Route, Target, StoredEvent | None] | None:
        """The row's route, target and event (None for reports and alerts), or None if gone."""
        route = self._routes.get(row.route)
        target = route.target(row.target) if route else None
        event = events.get(row.event_id) if row.event_id is not None else None
        if route is None or target is None or (event is None and row.kind is DeliveryKind.EVENT):
            self._ledger.mark_failed([row.id], "route or target no longer configured", None)
            log.warning("delivery.orphaned", id=row.id, route=row.route, target=row.target_label)
            report.dead += 1
            return None
        return route, target, event

    async def _attempt(
        self, rows: list[Delivery], target: Target, message: Message, report: DrainReport
    ) -> None:
        ids = [row.id for row in rows]
        async with self._slots:
            result = await self._send(
                target.url, message, kind=target.info.kind, timeout_s=self._config.timeout_s
            )
        now = self._now()
        if result.ok:
            self._ledger.mark_sent(ids, now)
            report.sent += len(ids)
            log.info("delivery.sent", ids=ids, route=rows[0].route, target=target.label)
            return
        attempts = max(row.attempts for row in rows) + 1
        retry_at = self._retry.next_attempt(
            failures=attempts,
            created_at=min(row.created_at for row in rows),
            now=now,
            rand=self._rand(),
        )
        error = result.error or "the target refused the notification"
        self._ledger.mark_failed(ids, error, retry_at)
        report.failed += len(ids)
        # Alerts that die are not alerted about again: that would loop on a dead target.
        report.dead += (
            len(ids) if retry_at is None and rows[0].kind is not DeliveryKind.ALERT else 0
        )
        log.warning(
            "delivery.failed",
            ids=ids,
            route=rows[0].route,
            target=target.label,
            error=error,
            attempts=attempts,
            retry_in_s=None if retry_at is None else retry_at - now,
            dead=retry_at is None,
        )

    def _limits(self) -> AudioLimits:
        config = self._config
        return AudioLimits(self._now(), config.audio_wait_s, config.max_attachment_bytes)

    def _plausible(self, row: Delivery, now: int) -> bool:
        """Could this row really have been scheduled that far ahead? If not, the clock was
        set back since (its retry time was read off a clock that was ahead): send now."""
        step = self._retry.step(row.attempts)
        return bool(row.next_attempt_at - now <= step + CLOCK_SLACK_S)
