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
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from tossd.api import Client
from tossd.config import Config
from tossd.events import Stream
from tossd.notify.deliver import Deliverer, DrainReport
from tossd.notify.routing import Route
from tossd.notify.targets import build_routes, host_timezone, zone
from tossd.poll import Poller, StreamReport
from tossd.signals import stop_on_signals
from tossd.store import Store

log = structlog.get_logger(__name__)

#: SIGTERM must end the process within 10 s; running jobs get this long to finish.
STOP_GRACE_S = 8.0
#: A run this much later than scheduled (beyond jitter) is logged as late.
LATE_AFTER_S = 5.0


def open_client(config: Config) -> Client:
    api = config.api
    return Client.connect(
        api.url,
        api.require_key(),
        fmt=api.format,
        timeout_s=api.timeout_s,
        max_concurrency=api.max_concurrency,
        max_requests_per_s=api.max_requests_per_s,
        retries=api.retries,
        backoff_s=api.backoff_s,
    )


def open_store(config: Config) -> Store:
    return Store.open(config.store_url, audio_dir=config.state_dir / "audio")


def ready_routes(config: Config) -> list[Route]:
    """Routes with URLs checked and templates compiled: a bad one is a ConfigError at start."""
    default_tz = zone(config.delivery.timezone, host_timezone())
    return build_routes(config.route, default_tz)


def open_deliverer(config: Config, store: Store, routes: list[Route]) -> Deliverer:
    return Deliverer(store, store.ledger(), routes, config.delivery)


class Daemon:
    """`tossd run`: poll every stream on its interval until `stop` is set."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock
        self._running: set[asyncio.Task[Any]] = set()
        self._extensions_synced_at: float | None = None
        self._sync_lock = asyncio.Lock()

    async def run(self, stop: asyncio.Event) -> None:
        routes = ready_routes(self._config)
        async with AsyncExitStack() as stack:
            store = stack.enter_context(open_store(self._config))
            api = await stack.enter_async_context(open_client(self._config))
            poller = Poller(api, store, self._config.poll, clock=self._clock)
            deliverer = open_deliverer(self._config, store, routes)
            scheduler = self._scheduler(poller, deliverer)
            scheduler.start()
            stack.callback(scheduler.shutdown, wait=False)
            log.info("daemon.started", streams=list(self._config.poll.streams))
            await stop.wait()
            log.info("daemon.stopping", running_jobs=len(self._running))
            scheduler.pause()
            await self._drain()
        log.info("daemon.stopped")

    def _scheduler(self, poller: Poller, deliverer: Deliverer) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        scheduler.add_listener(self._on_job_event, EVENT_JOB_MISSED | EVENT_JOB_SUBMITTED)
        poll = self._config.poll
        start = datetime.now(UTC)
        for index, name in enumerate(poll.streams):
            stream = Stream(name)
            scheduler.add_job(
                self._job,
                "interval",
                args=[f"poll.{stream.value}", self._stream_job(poller, deliverer, stream)],
                id=f"poll.{stream.value}",
                seconds=poll.interval_for(stream),
                jitter=poll.jitter_s or None,
                # Staggered first runs: streams don't all hit the API in the same second.
                next_run_time=start + timedelta(seconds=index * 0.5),
            )
        scheduler.add_job(
            self._job,
            "interval",
            args=["deliver", deliverer.drain],
            id="deliver",
            seconds=self._config.delivery.interval_s,
            next_run_time=start,
        )
        return scheduler

    def _stream_job(
        self, poller: Poller, deliverer: Deliverer, stream: Stream
    ) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            await self._ensure_extensions(poller)
            report = await poller.poll_stream(stream)
            if stream is Stream.VOICEMAIL:
                await poller.fetch_audio()
            if report.announced:
                # Deliver right away rather than at the next delivery tick.
                await deliverer.drain()

        return job

    async def _ensure_extensions(self, poller: Poller) -> None:
        """Sync the extension list at start, after a failed sync, and every interval."""
        async with self._sync_lock:
            due = self._extensions_synced_at is None or (
                self._clock() - self._extensions_synced_at
                >= self._config.poll.extensions_interval_s
            )
            if due:
                await poller.sync_extensions()
                self._extensions_synced_at = self._clock()

    async def _job(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """The one catch-all per scheduled job: log with the traceback and carry on."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job.failed", job=name)
        finally:
            if task is not None:
                self._running.discard(task)

    async def _drain(self) -> None:
        """Let running jobs finish (each store write is one transaction), then cancel."""
        if not self._running:
            return
        _done, pending = await asyncio.wait(set(self._running), timeout=STOP_GRACE_S)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
            log.warning("daemon.jobs_cancelled", count=len(pending))

    def _on_job_event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("job.missed", job=event.job_id)
            return
        times = getattr(event, "scheduled_run_times", None) or []
        if times:
            late = (datetime.now(UTC) - times[-1]).total_seconds()
            if late > LATE_AFTER_S:
                log.warning("job.late", job=event.job_id, late_s=round(late, 1), runs=len(times))


async def run_daemon(config: Config) -> None:
    """`tossd run` until SIGTERM or SIGINT."""
    await Daemon(config).run(stop_on_signals())


async def poll_once(config: Config) -> tuple[list[StreamReport], DrainReport]:
    """`tossd poll --once`: every stream once, pending audio, then one delivery pass."""
    routes = ready_routes(config)
    with open_store(config) as store:
        async with open_client(config) as api:
            reports = await Poller(api, store, config.poll).poll_all()
        return reports, await open_deliverer(config, store, routes).drain()


async def retry_outbox(
    config: Config, *, ids: list[int], include_dead: bool
) -> tuple[int, DrainReport]:
    """`tossd outbox retry`: make undelivered rows due now and deliver them."""
    routes = ready_routes(config)
    with open_store(config) as store:
        count = store.ledger().retry(int(time.time()), ids=ids, include_dead=include_dead)
        return count, await open_deliverer(config, store, routes).drain()
