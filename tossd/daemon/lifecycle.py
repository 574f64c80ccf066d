"""The daemon's lifecycle: resources in one exit stack, scheduler jobs, one stop event.

APScheduler lives only here. Misfire and coalesce are chosen on purpose: a run that is late
(the machine slept, the loop was busy) still runs, once (`misfire_grace_time=None`,
`coalesce=True`), and is logged as late; `max_instances=1` keeps a slow poll from overlapping
the next one of the same stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from tossd.config.model import Config
from tossd.daemon import resources
from tossd.daemon.database import open_store
from tossd.daemon.heartbeat import HEARTBEAT_S
from tossd.daemon.jobs import run_job
from tossd.daemon.leader import leading
from tossd.daemon.operations import Operations
from tossd.daemon.pruning import prune
from tossd.daemon.reload import reread, taken_up
from tossd.daemon.routes import ready_routes
from tossd.daemon.signals import on_hangup, stop_on_signals
from tossd.domain import Stream, StreamReport
from tossd.errors import ApiKeyRejected, TossdError
from tossd.notify.routing import unmatched_routes
from tossd.notify.tasks import settle
from tossd.poll.plan import RECHECK_S
from tossd.report.reporter import PreparedReport

log = structlog.get_logger(__name__)

#: SIGTERM must end the process within 10 s; running jobs get this long to finish.
STOP_GRACE_S = 8.0
#: A run this much later than scheduled (beyond jitter) is logged as late.
LATE_AFTER_S = 5.0


class Daemon:
    """`tossd run`: poll every stream on its interval until `stop` is set."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        heartbeat_s: float = HEARTBEAT_S,
        reread: Callable[[], Config] | None = None,
        relog: Callable[[Config], None] | None = None,
    ) -> None:
        self._config = config
        # SIGHUP: `reread` reads the config file again, `relog` applies its [log] section.
        self._reread, self._relog = reread, relog
        self._reloading: asyncio.Task[None] | None = None
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self._running: set[asyncio.Task[Any]] = set()
        self._extensions_synced_at: float | None = None
        self._sync_lock = asyncio.Lock()
        self._ops = Operations(config, clock=clock)

    async def run(self, stop: asyncio.Event) -> None:
        routes = self._routes = ready_routes(self._config)
        async with AsyncExitStack() as stack:
            store = stack.enter_context(open_store(self._config, long_running=True))
            api = await stack.enter_async_context(
                resources.open_client(self._config, on_request=self._ops.metrics.record_api_call)
            )
            self._store, self._api = store, api
            self._poller = resources.open_poller(self._config, api, store, clock=self._clock)
            self._deliverer = resources.open_deliverer(
                self._config, store, routes, clock=self._clock
            )
            self._reporter = resources.open_reporter(api, store, self._config, routes)
            await self._ops.open(stack, store, self._deliverer)
            self._leader = await stack.enter_async_context(leading(self._config, store, self._ops))
            scheduler = self._jobs = self._scheduler()
            scheduler.start()
            stack.callback(scheduler.shutdown, wait=False)
            on_hangup(self._on_hangup)
            self._ops.ready()
            log.info("daemon.started", streams=list(self._config.poll.streams))
            await stop.wait()
            self._ops.stopping()
            log.info("daemon.stopping", running_jobs=len(self._running))
            scheduler.pause()
            await self._drain()
        log.info("daemon.stopped")

    def _scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        scheduler.add_listener(self._on_job_event, EVENT_JOB_MISSED | EVENT_JOB_SUBMITTED)
        start = datetime.now(UTC)
        self._schedule_polls(scheduler, start)
        # Jittered: nodes sharing a store take turns rather than claiming in the same instant.
        delivery = self._config.delivery.interval_s
        self._every(scheduler, "deliver", self._deliver, delivery, start, jitter=delivery / 10)
        watchdog = self._ops.watchdog_interval
        if watchdog is not None:
            self._every(scheduler, "watchdog", self._watchdog, watchdog, start)
        self._every(scheduler, "retention", self._prune, 86400.0, start + timedelta(minutes=5))
        beat = timedelta(seconds=self._heartbeat_s)
        self._every(scheduler, "heartbeat", self._heartbeat, self._heartbeat_s, start + beat)
        # Checked every minute rather than a cron trigger: a report due while tossd was down or
        # asleep is then sent at the next check (marked late), and DST needs no special case.
        self._every(scheduler, "report", self._report, 60.0, start + timedelta(seconds=10))
        return scheduler

    def _schedule_polls(self, scheduler: AsyncIOScheduler, start: datetime) -> None:
        """A job per configured stream, on its interval; on reload, streams no longer listed
        stop and the others take their new intervals."""
        poll = self._config.poll
        for job in scheduler.get_jobs():
            if job.id.startswith("poll.") and job.id.removeprefix("poll.") not in poll.streams:
                job.remove()
        for index, name in enumerate(poll.streams):
            stream = Stream(name)
            job_id, seconds = f"poll.{stream.value}", poll.interval_for(stream)
            if scheduler.get_job(job_id) is not None:
                jitter = poll.jitter_s or None
                scheduler.reschedule_job(job_id, trigger="interval", seconds=seconds, jitter=jitter)
                continue
            # Staggered first runs: streams don't all hit the API in the same second.
            first = start + timedelta(seconds=index * 0.5)
            work = partial(self._poll, stream)
            self._every(scheduler, job_id, work, seconds, first=first, jitter=poll.jitter_s)

    def _on_hangup(self) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.create_task(self._job("reload", self._reload))

    async def _reload(self) -> None:
        """SIGHUP: see `tossd.daemon.reload` for what is taken up."""
        if self._reread is None:
            log.warning("config.reload_unavailable")
            return
        reloaded = reread(self._reread, self._config)
        if reloaded is None:
            return
        self._config, self._routes = reloaded.config, reloaded.routes
        resources.take_routes(self._store, self._deliverer, self._routes, now=int(self._clock()))
        self._reporter = resources.open_reporter(self._api, self._store, self._config, self._routes)
        self._schedule_polls(self._jobs, datetime.now(UTC))
        interval = self._config.delivery.interval_s
        self._jobs.reschedule_job(
            "deliver", trigger="interval", seconds=interval, jitter=interval / 10
        )
        taken_up(reloaded, self._relog)

    def _every(
        self,
        scheduler: AsyncIOScheduler,
        name: str,
        work: Callable[[], Awaitable[None]],
        seconds: float,
        first: datetime,
        jitter: float = 0.0,
    ) -> None:
        scheduler.add_job(
            self._job,
            "interval",
            args=[name, work],
            id=name,
            seconds=seconds,
            jitter=jitter or None,
            next_run_time=first,
        )

    async def _poll(self, stream: Stream) -> None:
        try:
            await self._ensure_extensions()
        except ApiKeyRejected as exc:
            # Expected trouble, not a bug: no traceback every interval, one alert.
            log.error("extensions.sync_failed", error=exc.message, key_rejected=True)
            self._ops.key_rejected(exc.message)
            return
        except TossdError as exc:
            # Keep polling the numbers already known; the sync is retried next time.
            log.warning("extensions.sync_failed", error=exc.message)
        report = await self._poller.poll_stream(stream)
        if stream is Stream.VOICEMAIL:
            await self._poller.fetch_audio()
        self._after_poll(report)
        if report.due and Stream.VOICEMAIL.value in self._config.poll.streams:
            # A call may have left a voicemail: check its box now, and once more shortly in
            # case the provider lists the voicemail a little after the call.
            now = datetime.now(UTC)
            for delay in (0.0, RECHECK_S):
                self._jobs.add_job(
                    self._job,
                    "date",
                    args=["poll.voicemail_due", self._poll_due_boxes],
                    run_date=now + timedelta(seconds=delay),
                )

    async def _poll_due_boxes(self) -> None:
        report = await self._poller.poll_voicemail(sweep=False)
        await self._poller.fetch_audio()
        if report.extensions:
            self._after_poll(report)

    def _after_poll(self, report: StreamReport) -> None:
        self._ops.after_poll(report)
        if report.announced:
            # Sends start now, not at the next tick; in their lanes, so the poll ends at once.
            self._dispatch()

    async def _deliver(self) -> None:  # starts what is due, never waits for a send
        self._dispatch()

    def _dispatch(self) -> None:
        self._deliverer.dispatch()
        self._ops.after_drain(self._deliverer.take_report())

    async def _report(self) -> None:
        await self._reporter.tick(now=int(self._clock()), deliver=self._send_report)

    async def _send_report(self, prepared: PreparedReport) -> None:
        """Through the ledger like any notification: retried, never lost once queued."""
        self._deliverer.enqueue_report(prepared.messages, prepared.routes)
        self._dispatch()

    async def _heartbeat(self) -> None:
        self._ops.heartbeat()

    async def _watchdog(self) -> None:  # on the loop: a hung loop stops the pings
        self._ops.watchdog()

    async def _prune(self) -> None:
        await asyncio.to_thread(
            prune, self._store.pruner(), self._config.retention, int(self._clock())
        )

    async def _ensure_extensions(self) -> None:
        """Sync the extension list at start, after a failed sync, and every interval."""
        async with self._sync_lock:
            due = self._extensions_synced_at is None or (
                self._clock() - self._extensions_synced_at
                >= self._config.poll.extensions_interval_s
            )
            if due:
                await self._poller.sync_extensions()
                self._extensions_synced_at = self._clock()
                known = self._store.all_extensions()
                self._ops.after_sync(unmatched_routes(self._routes, known))

    async def _job(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        if name.startswith(("poll", "report")) and not self._leader.leads():
            return  # a standby: the leader polls and reports (tossd.daemon.leader)
        await run_job(name, work, self._running)

    async def _drain(self) -> None:
        """Let jobs and sends finish, then cancel: a cancelled send stays owed (sent again)."""
        jobs = asyncio.create_task(settle(self._running, STOP_GRACE_S))
        sends = await self._deliverer.settle(STOP_GRACE_S)
        cancelled = await jobs
        if cancelled or sends:
            log.warning("daemon.jobs_cancelled", count=cancelled, sends=sends)

    def _on_job_event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("job.missed", job=event.job_id)
            return
        times = getattr(event, "scheduled_run_times", None) or []
        if times:
            late = (datetime.now(UTC) - times[-1]).total_seconds()
            if late > LATE_AFTER_S:
                log.warning("job.late", job=event.job_id, late_s=round(late, 1), runs=len(times))


async def run_daemon(
    config: Config,
    reread: Callable[[], Config] | None = None,
    relog: Callable[[Config], None] | None = None,
) -> None:
    """`tossd run` until SIGTERM or SIGINT; SIGHUP reloads the config through `reread`."""
    await Daemon(config, reread=reread, relog=relog).run(stop_on_signals())
