"""The delivery ledger's sending side: plan rows for new events, start what is due, record it.

Each row is sent by its own Apprise call to its one target and judged by that call alone.
Sends run as tasks in per-target lanes (`tossd.notify.lanes`): `dispatch()` starts them and
returns at once, so no poll ever waits on a slow target; `drain()` also awaits them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Collection, Sequence

import structlog

from tossd.config.routes import DeliveryConfig
from tossd.domain import DeliveryKind, DrainReport, KnownExtension, Notice, StoredEvent
from tossd.notify.apprise.send import send as apprise_send
from tossd.notify.attach import AudioLimits, Postpone
from tossd.notify.batches import DUE_PER_CYCLE, Batch, batches_by_lane
from tossd.notify.breaker import Breaker
from tossd.notify.claims import Claims
from tossd.notify.compose import digest_message, event_message
from tossd.notify.fold import Fold, fold_row
from tossd.notify.lanes import BREAKER_AFTER, Lane
from tossd.notify.message import Message, SendResult, decode_message
from tossd.notify.queue import enqueue
from tossd.notify.results import Results
from tossd.notify.routing import Route, Target, plan_deliveries
from tossd.notify.tasks import SendTasks
from tossd.store.ledger import Ledger
from tossd.store.records import Delivery, PlannedDelivery
from tossd.store.store import Store

log = structlog.get_logger(__name__)

#: Tolerance, in seconds, before a retry time is judged to come from a clock set back since.
CLOCK_SLACK_S = 60
#: A voicemail whose recording is still being fetched is looked at again this much later.
POSTPONE_S = 5
Send = Callable[..., Awaitable[SendResult]]


class Deliverer:
    """Owns the sending side of the daemon; `dispatch()` and `drain()` are safe at any time."""

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
        transcript_wait_s: float | None = None,
    ) -> None:
        self._store = store
        self._transcript_wait_s = transcript_wait_s
        self._ledger = ledger
        self._routes = {route.name: route for route in routes}
        self._config = config
        self._retry = config.retry_policy
        self._clock = clock
        self._send = send
        self._shared = asyncio.Semaphore(config.concurrency)
        self._lanes: dict[str, Lane] = {}
        self._finished = DrainReport()
        self._extensions: dict[int, KnownExtension] = {}
        self._claims = Claims(ledger, config.timeout_s, clock)
        self._results = Results(ledger, self._retry, self._claims.owner, rand)
        self._sends = SendTasks(self._claims.release)

    def _now(self) -> int:
        return int(self._clock())

    @property
    def owner(self) -> str:
        """This sender's name in the ledger's claims."""
        return self._claims.owner

    def use_routes(self, routes: Sequence[Route]) -> None:
        """The routes after a reload (SIGHUP): what is planned and sent from now on."""
        self._routes = {route.name: route for route in routes}

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
        """Queue a message for every target of every route listening to `notice` (ids)."""
        return enqueue(self._ledger, self._routes.values(), kind, notice, render, self._now())

    def enqueue_report(
        self, messages: Sequence[tuple[Target, Message]], routes: Collection[str] | None = None
    ) -> list[int]:
        """A report: each target's own rendering (HTML for email, chart if it fits), to the
        `routes` named (its own and the shared ones; None: every route taking reports)."""
        by_target = {target.url: message for target, message in messages}
        chosen = [r for r in self._routes.values() if routes is None or r.name in routes]

        def render(target: Target) -> Message | None:
            return by_target.get(target.url)

        return enqueue(
            self._ledger, chosen, DeliveryKind.REPORT, Notice.REPORT, render, self._now()
        )

    def dispatch(self, only: Collection[int] | None = None) -> list[asyncio.Task[None]]:
        """Plan, then start the send of every due row (or of the rows `only` names) in its
        target's lane; returns at once with the tasks started. A row already being sent, or
        held by its target's open breaker, waits; all wait while a result cannot be written."""
        flushed = self._results.flush()
        self._finished.unrecorded = self._results.held
        if not flushed:
            return []
        # Numbers are few and change hourly: read them once per dispatch, not per event.
        self._extensions = {e.extensionid: e for e in self._store.all_extensions()}
        self._finished.planned += self.plan()
        now = self._now()
        due = [
            row
            for row in self._ledger.due(
                now, beyond_s=CLOCK_SLACK_S, skip=self._held(now), limit=DUE_PER_CYCLE
            )
            if self._retry.due_now(row.attempts, row.next_attempt_at, now, CLOCK_SLACK_S)
            and (only is None or row.id in only)
            and not self._sends.holds(row.id)
        ]
        if not due:
            return []
        events = self._ledger.events([d.event_id for d in due if d.event_id is not None])
        lanes, orphans = batches_by_lane(due, self._routes, self._config.max_per_cycle)
        self._orphan(orphans, now)
        chosen: list[tuple[Lane, bool, Batch]] = []
        for url, batches in lanes.items():
            lane = self._lane(url, batches[0].target.label)
            if not lane.admits(now):
                continue
            probe = lane.breaker.is_open
            if probe:
                batches, lane.breaker = batches[:1], lane.breaker.probe()
            chosen += [(lane, probe, batch) for batch in batches]
        # One claim for everything chosen: rows another sender holds are left to it.
        won = {row.id for rows in self._claims.take([b.rows for *_, b in chosen]) for row in rows}
        started = []
        for lane, probe, batch in chosen:
            if kept := batch.keeping(won):
                started.append(self._sends.start(kept.rows, self._job(kept, events, lane, probe)))
            elif probe:
                lane.breaker = lane.breaker.probe_unsent()
        return started

    async def drain(self, only: Collection[int] | None = None) -> DrainReport:
        """`dispatch`, then wait for those sends (each ends by its deadline): for one-shots."""
        started = self.dispatch(only)
        if started:
            await asyncio.gather(*started)
        report = self.take_report()
        if started:
            log.info("delivery.drained", **vars(report))
        return report

    def take_report(self) -> DrainReport:
        """What finished since the last call (the daemon feeds it to alerts and heartbeat)."""
        report, self._finished = self._finished, DrainReport()
        return report

    async def settle(self, timeout: float) -> int:
        """Wait up to `timeout` for the sends in flight, then cancel the rest (they stay
        owed and are sent again); returns how many were cancelled."""
        return await self._sends.settle(timeout)

    def _held(self, now: int) -> set[tuple[str, str]]:
        """(route, target) of every target whose lane takes no send now: their rows are not
        read, so however many wait behind an open breaker, other targets' rows are seen."""
        return {
            (route.name, target.key)
            for route in self._routes.values()
            for target in route.targets
            if (lane := self._lanes.get(target.fingerprint)) and not lane.admits(now)
        }

    def _lane(self, url: str, label: str) -> Lane:
        if url not in self._lanes:
            breaker = Breaker(BREAKER_AFTER, self._retry)
            self._lanes[url] = Lane(label, breaker, self._config.timeout_s, self._shared)
        return self._lanes[url]

    async def _job(
        self, batch: Batch, events: dict[int, StoredEvent], lane: Lane, probe: bool
    ) -> None:
        try:
            await self._deliver(batch, events, lane, probe)
        finally:
            # A probe that ended without a result (its row postponed, folded, given up or
            # claimed elsewhere) must not hold the open breaker's one probe for ever.
            if probe and lane.breaker.probing:
                lane.breaker = lane.breaker.probe_unsent()

    async def _deliver(
        self, batch: Batch, events: dict[int, StoredEvent], lane: Lane, probe: bool
    ) -> None:
        rows, route, target = batch.rows, batch.route, batch.target
        event = events.get(rows[0].event_id) if rows[0].event_id is not None else None
        if event is None and rows[0].kind is DeliveryKind.EVENT:
            self._ledger.mark_failed([rows[0].id], "its event is gone", None, owner=self.owner)
            self._finished.dead += 1
            return
        config = self._config
        waits = config.audio_wait_s, config.max_attachment_bytes, self._transcript_wait_s
        limits = AudioLimits(self._now(), *waits)
        if batch.digest:
            items = [
                (events[r.event_id], self._extensions.get(events[r.event_id].extensionid))
                for r in rows
                if r.event_id in events
            ]
            message = digest_message(self._store, items, route, target, limits, rows[0].held_until)
        elif event is None:  # a report or an alert: its message was stored with the row
            message = decode_message(self._ledger.payload(rows[0].id) or "{}")
        else:
            if route.folds_voicemail_calls:
                wait = self._config.audio_wait_s, POSTPONE_S
                verdict = fold_row(self._ledger, rows[0].id, event, self._now(), wait, self.owner)
                self._finished.folded += verdict is Fold.FOLDED
                self._finished.postponed += verdict is Fold.WAIT
                if verdict is not Fold.SEND:
                    return
            extension = self._extensions.get(event.extensionid)
            try:
                message = event_message(self._store, event, extension, route, target, limits)
            except Postpone as wait:
                self._ledger.postpone([rows[0].id], self._now() + wait.retry_s, owner=self.owner)
                self._finished.postponed += 1
                return
        await self._attempt(rows, target, message, lane, probe)

    def _orphan(self, rows: list[Delivery], now: int) -> None:
        """Rows of a route or target this config lacks (planned by another): orphaned."""
        if rows and self._ledger.repair().orphan([row.id for row in rows], self.owner, now):
            routes = sorted({row.route for row in rows})
            log.warning("delivery.orphaned", rows=len(rows), routes=routes)

    async def _attempt(
        self, rows: list[Delivery], target: Target, message: Message, lane: Lane, probe: bool
    ) -> None:
        ids = [row.id for row in rows]
        timeout_s = self._config.timeout_s

        async def work() -> SendResult | None:
            if self._results.held or not self._claims.renew(ids):  # a result unwritten; row taken
                return None
            return await self._send(target.url, message, kind=target.info.kind, timeout_s=timeout_s)

        result = await lane.send(work, probe=probe)
        if result is None:  # not sent after all: the row waits, for any sender
            return self._claims.release(ids)
        now = self._now()
        self._claims.settled(ids)
        self._breaker_moved(lane, lane.record(result.ok, now))
        if result.ok:
            self._results.sent(ids, now)
            self._finished.sent += len(ids)
            log.info("delivery.sent", ids=ids, route=rows[0].route, target=target.label)
            return
        error = result.error or "the target refused the notification"
        failure, retry_at = self._results.failed(rows, error, now)
        self._finished.failed += failure.rows
        self._finished.dead += failure.dead
        log.warning(
            "delivery.failed",
            ids=ids,
            route=rows[0].route,
            target=target.label,
            error=error,
            attempts=max(row.attempts for row in rows) + 1,
            retry_in_s=None if retry_at is None else retry_at - now,
            dead=retry_at is None,
        )

    def _breaker_moved(self, lane: Lane, opened: bool | None) -> None:
        """One line (and one alert, via the report) when a target goes down or comes back."""
        if opened is True:
            probe_in_s = round((lane.breaker.open_until or 0) - self._now())
            log.warning("delivery.target_down", target=lane.label, probe_in_s=probe_in_s)
            self._finished.targets_down.append(lane.label)
        elif opened is False:
            log.info("delivery.target_up", target=lane.label)
            self._finished.targets_up.append(lane.label)
