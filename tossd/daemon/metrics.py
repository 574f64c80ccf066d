"""Prometheus metrics on a registry of tossd's own: in-process counters, store facts at scrape."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from tossd.domain import ACCOUNT, OWED_STATES, EventKind, StreamReport
from tossd.errors import StoreError
from tossd.store.ledger_stats import StoreFacts
from tossd.store.records import PollState, covering

log = structlog.get_logger(__name__)

OUTCOMES = ("ok", "failed")
#: The API budget's use is averaged over this many seconds.
BUDGET_WINDOW_S = 60.0
# Label values must come from a small fixed set (methods, exception class names): anything
# else is folded into "other" so a message or an id can never explode the series count.
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")


def _label(value: str) -> str:
    return value if _LABEL.match(value) else "other"


class Metrics:
    """The daemon's metrics; `registry` is private to it, never prometheus_client's global."""

    def __init__(
        self,
        streams: Iterable[str] = (),
        *,
        budget_per_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._budget = budget_per_s
        self._clock = clock
        self._recent: deque[float] = deque()
        self._round = Gauge(
            "tossd_cycle_seconds",
            "Seconds to cover every number of a stream once at the current pace: its interval,"
            " unless the request budget stretches per-number polling (or the voicemail sweep).",
            ["stream"],
            registry=self.registry,
        )
        utilization = Gauge(
            "tossd_api_budget_utilization",
            "Share of [api] max_requests_per_s used over the last minute (0 to 1).",
            registry=self.registry,
        )
        utilization.set_function(self._utilization)
        self._polls = Counter(
            "tossd_polls",
            "Polls of one stream of one number, by outcome (ok or failed).",
            ["stream", "outcome"],
            registry=self.registry,
        )
        self._api_requests = Counter(
            "tossd_api_requests",
            "Requests to the Tossable Digits API, by method (retries included).",
            ["method"],
            registry=self.registry,
        )
        self._api_errors = Counter(
            "tossd_api_errors",
            "Failed requests to the Tossable Digits API, by method and error class.",
            ["method", "error"],
            registry=self.registry,
        )
        self._new_events = Counter(
            "tossd_new_events",
            "Events stored for the first time, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self._transcriptions = Counter(
            "tossd_transcriptions",
            "Voicemail transcription attempts, by outcome (ok, failed or skipped).",
            ["outcome"],
            registry=self.registry,
        )
        self._leader = Gauge(
            "tossd_leader",
            "1 while this node polls for every node sharing the store (the leader), else 0.",
            ["node"],
            registry=self.registry,
        )
        # Series that exist from the start read as 0, not as missing, in rate() and alerts.
        for stream in streams:
            for outcome in OUTCOMES:
                self._polls.labels(stream, outcome)
        for kind in EventKind:
            self._new_events.labels(kind.value)
        for outcome in (*OUTCOMES, "skipped"):
            self._transcriptions.labels(outcome)

    def record_poll(self, report: StreamReport) -> None:
        """After each `Poller.poll_stream`: one ok or failed poll per number, new events."""
        stream = report.stream.value
        if report.round_s:
            self._round.labels(stream).set(report.round_s)
        self._polls.labels(stream, "ok").inc(max(0, report.extensions - report.failed))
        self._polls.labels(stream, "failed").inc(report.failed)
        for event in report.new_events:
            self._new_events.labels(event.kind.value).inc()

    def record_transcription(self, outcome: str) -> None:
        """After each transcription attempt: ok, failed, or skipped (too long)."""
        self._transcriptions.labels(_label(outcome)).inc()

    def record_leader(self, node: str, leading: bool) -> None:
        self._leader.labels(node).set(1 if leading else 0)

    def record_api_call(self, method: str, error: str | None) -> None:
        """After each HTTP request; `error` is the exception class name, None on success."""
        method = _label(method)
        self._api_requests.labels(method).inc()
        self._recent.append(self._clock())
        if error is not None:
            self._api_errors.labels(method, _label(error)).inc()

    def _utilization(self) -> float:
        """Requests of the last minute over what the budget allows in a minute."""
        horizon = self._clock() - BUDGET_WINDOW_S
        while self._recent and self._recent[0] <= horizon:
            self._recent.popleft()
        if not self._budget:
            return 0.0
        return len(self._recent) / (self._budget * BUDGET_WINDOW_S)

    def watch_store(
        self,
        facts: StoreFacts,
        streams: Iterable[str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Also report the store's facts, read at every scrape (deliveries, ages, successes)."""
        self.registry.register(StoreCollector(facts, tuple(streams), clock))

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition for a scrape's Accept header: (body, Content-Type)."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class StoreCollector(Collector):
    """Reads the store when scraped, so the numbers are as fresh as the scrape."""

    def __init__(self, facts: StoreFacts, streams: tuple[str, ...], clock: Callable[[], float]):
        self._facts = facts
        self._streams = streams
        self._clock = clock

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only: the registry checks them for clashes without querying the database.
        return iter(_families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up, events, deliveries, depth, oldest, success = _families()
        try:
            events_by_kind = self._facts.events_by_kind()
            by_state = self._facts.deliveries_by_state()
            oldest_at = self._facts.oldest_open_created_at()
            active, _known = self._facts.extensions()
            states = self._facts.poll_states()
        except StoreError as exc:
            log.warning("metrics.store_unreadable", error=exc.message)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for kind in sorted({*(k.value for k in EventKind), *events_by_kind}):
            events.add_metric([kind], events_by_kind.get(kind, 0))
        for name, count in by_state.items():
            deliveries.add_metric([name], count)
        depth.add_metric([], sum(by_state.get(state, 0) for state in OWED_STATES))
        oldest.add_metric([], 0 if oldest_at is None else max(0.0, self._clock() - oldest_at))
        active_ids = {ext.extensionid for ext in active}
        for stream, extensionid, at in _successes(states, active_ids, self._streams):
            success.add_metric([stream, str(extensionid)], at)
        yield from (up, events, deliveries, depth, oldest, success)


def _successes(
    states: Iterable[PollState], active: set[int], streams: tuple[str, ...]
) -> Iterator[tuple[str, int, int]]:
    """(stream, extension id, last success) of the active numbers and configured streams.

    Ended numbers are left out: they are no longer polled and would look stale forever.
    """
    by_key = {(s.extensionid, s.stream.value): s for s in states}
    for stream in streams:
        for extensionid in sorted(active):
            own = by_key.get((extensionid, stream))
            state = covering(own, by_key.get((ACCOUNT, stream)))
            if state is not None and state.last_success_at is not None:
                yield stream, extensionid, state.last_success_at


def _families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily("tossd_store_up", "1 when the store answered this scrape, else 0."),
        GaugeMetricFamily("tossd_stored_events", "Events in the store, by kind.", labels=["kind"]),
        GaugeMetricFamily("tossd_deliveries", "Delivery ledger rows, by state.", labels=["state"]),
        GaugeMetricFamily("tossd_ledger_depth", "Notifications still owed (pending + retrying)."),
        GaugeMetricFamily(
            "tossd_oldest_pending_delivery_age_seconds",
            "Age of the oldest pending or retrying delivery (0 when none is owed).",
        ),
        GaugeMetricFamily(
            "tossd_last_success_timestamp_seconds",
            "Unix time of the last successful poll, by stream and number (extension id).",
            labels=["stream", "extension"],
        ),
    )
