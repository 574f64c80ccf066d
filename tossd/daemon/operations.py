"""What the daemon tells the outside world: systemd, /healthz and /metrics, self-alerts."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack

import structlog

from tossd.config.model import Config
from tossd.daemon.alerts import Alert, Alerter, LocalAlerts
from tossd.daemon.health import (
    HealthCheck,
    record_key_rejected,
    record_start,
    stream_intervals,
)
from tossd.daemon.heartbeat import Heartbeat
from tossd.daemon.recording import Recorder, Unrecorded, served_metrics
from tossd.daemon.systemd import Notifier, status_line, watchdog_interval
from tossd.domain import DeliveryKind, DrainReport, Notice, StreamReport
from tossd.errors import StoreError
from tossd.notify.deliver import Deliverer
from tossd.notify.message import Message
from tossd.notify.routing import Target
from tossd.store.store import Store
from tossd.store.watch import StoreFile
from tossd.transcribe.running import transcribing

log = structlog.get_logger(__name__)


class Operations:
    """One object the daemon calls at start, after each poll and drain, and at stop."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._env = os.environ if env is None else env
        self._notifier = Notifier.from_env(self._env)
        self._served_metrics = served_metrics(config)
        self.metrics: Recorder = self._served_metrics or Unrecorded()
        self._alerter = Alerter(config.alerts.after_failures)
        self._local = LocalAlerts(config.alerts.after_failures)
        self._store_file: StoreFile | None = None
        self._store_trouble: str | None = None
        #: Alerts the ledger could not take yet (its database failing): queued first next time.
        self._unqueued: list[Alert] = []
        self._latest: dict[str, StreamReport] = {}
        self._heartbeat = Heartbeat()
        self.deliverer: Deliverer | None = None
        self._key_rejected: str | None = None
        self._poller_silent = False
        #: Whether this node polls (and transcribes) now; told by the leadership's checks.
        self.leading = False

    @property
    def watchdog_interval(self) -> float | None:
        return watchdog_interval(self._env) if self._notifier else None

    async def open(self, stack: AsyncExitStack, store: Store, deliverer: Deliverer) -> None:
        """Metrics on the store, the start time for `tossd health`, the HTTP endpoint if set."""
        self.deliverer = deliverer
        self._store_file = store.file()
        started = self._clock()
        record_start(self._config.state_dir, started)
        # A refusal noted by an earlier run is not this run's: its first poll says again.
        record_key_rejected(self._config.state_dir, None)
        self.metrics.watch_store(store.facts(), self._config.poll.streams, clock=self._clock)
        await stack.enter_async_context(
            transcribing(
                self._config, store, self.metrics, deliverer, may_work=lambda: self.leading
            )
        )
        if self._notifier is not None:
            stack.callback(self._notifier.close)
        listen = self._config.health.listen
        if listen:
            # aiohttp is loaded only when the endpoints are on (about 8 MiB otherwise spared).
            from tossd.daemon.http import serve_health

            intervals = stream_intervals(self._config.poll)
            state_dir = self._config.state_dir
            check = HealthCheck(
                store.facts(), intervals, started, self._clock, state_dir, self.store_trouble
            )
            server = await stack.enter_async_context(
                serve_health(listen, check.report, self._served_metrics)
            )
            log.info("health.listening", url=server.url)

    def ready(self) -> None:
        if self._notifier is not None:
            self._notifier.ready(status_line([]))

    def watchdog(self) -> None:
        if self._notifier is not None:
            self._notifier.watchdog()

    def stopping(self) -> None:
        if self._notifier is not None:
            self._notifier.stopping()

    def after_poll(self, report: StreamReport) -> None:
        self._latest[report.stream.value] = report
        self.metrics.record_poll(report)
        self._heartbeat.after_poll(report)
        if self._notifier is not None:
            self._notifier.status(status_line(self._latest.values()))
        if report.key_rejected:
            self._note_key(f"the key was refused while polling {report.stream.value}")
        elif report.failed < report.extensions:
            self._note_key(None)
        self._raise(self._alerter.after_poll(report))

    def after_drain(self, report: DrainReport) -> None:
        """After each delivery pass (at least every `[delivery] interval_s`): its figures and
        alerts, and a look at the database file (a few stat calls)."""
        self.check_store()
        self._heartbeat.after_drain(report.sent, report.failed)
        self._raise(
            self._alerter.after_drain(report) + self._local.results_checked(report.unrecorded)
        )

    def store_trouble(self) -> str | None:
        """What is wrong with the database file now (deleted, replaced, read-only), or None."""
        return None if self._store_file is None else self._store_file.trouble()

    def check_store(self) -> None:
        """One line when the database file's state changes, alerts with hysteresis (health
        reports the trouble at once)."""
        trouble = self.store_trouble()
        if trouble != self._store_trouble:
            if trouble is None:
                log.info("store.file_ok")
            else:
                log.error("store.file_trouble", error=trouble)
            self._store_trouble = trouble
        self._raise(self._local.store_checked(trouble))

    def heartbeat(self) -> None:
        """The hourly line: cycles, events, deliveries and failures since the last one."""
        log.info("daemon.heartbeat", **self._heartbeat.beat())

    def after_sync(self, unmatched: list[str]) -> None:
        """After each extension sync: one warning per sync, one alert per route, for routes
        that can never fire."""
        self._note_key(None)
        for name in unmatched:
            log.warning("route.matches_no_number", route=name)
        self._raise(self._alerter.routes_unmatched(unmatched))

    def leader_changed(self, node: str, leading: bool) -> None:
        """This node started or stopped polling for the nodes sharing the store (and
        transcribing: one node transcribes each voicemail, not every node)."""
        self.leading = leading
        self.metrics.record_leader(node, leading)

    def poller_silent(self, silent_s: float | None, limit_s: float) -> None:
        """One alert once no node has polled for `limit_s` (every leader gone or failing),
        one line when polling resumes."""
        silent = silent_s is not None and silent_s > limit_s
        if silent == self._poller_silent:
            return
        self._poller_silent = silent
        if not silent:
            log.info("leader.polling_again")
            return
        log.error("leader.silent", silent_s=round(silent_s or 0.0), limit_s=limit_s)
        title = f"tossd: no node has polled for over {limit_s:g} s"
        body = "No daemon sharing this store holds the poll duty, or its polls fail to commit."
        self._raise([Alert(title, body + " `tossd health` lists the nodes and the leader.")])

    def key_rejected(self, error: str) -> None:
        self._note_key(error)
        self._raise(self._alerter.key_rejected(error))

    def _note_key(self, error: str | None) -> None:
        """For `tossd health` and /healthz: unhealthy from the first refusal to the next
        success (written when that changes, not at every poll)."""
        if (error is None) != (self._key_rejected is None):
            record_key_rejected(self._config.state_dir, error)
        self._key_rejected = error

    def _raise(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            log.warning("tossd.alert", title=alert.title)
        pending, self._unqueued = self._unqueued + alerts, []
        if self.deliverer is None:
            return
        for index, alert in enumerate(pending):
            message = _same(Message(alert.title, alert.body))
            try:
                self.deliverer.enqueue(DeliveryKind.ALERT, Notice.TOSSD_ERROR, message)
            except StoreError as exc:
                # The database is what fails: keep the alerts, they are queued once it works.
                log.error("tossd.alert_unqueued", alerts=len(pending) - index, error=exc.message)
                self._unqueued = pending[index:]
                return


def _same(message: Message) -> Callable[[Target], Message]:
    """Alerts read the same on every target."""
    return lambda _target: message
