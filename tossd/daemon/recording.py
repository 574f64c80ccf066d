"""What the daemon counts, behind one interface: Prometheus metrics only where they are served.

`/metrics` exists only with `[health] listen`; without it nothing would ever read a counter,
and prometheus_client (with the http.server and wsgiref it imports) is never loaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from tossd.config.model import Config
from tossd.domain import StreamReport
from tossd.store.ledger_stats import StoreFacts

if TYPE_CHECKING:
    from tossd.daemon.metrics import Metrics


class Recorder(Protocol):
    """The calls the daemon makes as things happen (see `tossd.daemon.metrics.Metrics`)."""

    def record_poll(self, report: StreamReport) -> None: ...
    def record_transcription(self, outcome: str) -> None: ...
    def record_leader(self, node: str, leading: bool) -> None: ...
    def record_api_call(self, method: str, error: str | None) -> None: ...
    def watch_store(
        self, facts: StoreFacts, streams: Iterable[str], *, clock: Callable[[], float] = ...
    ) -> None: ...


class Unrecorded:
    """The recorder of a daemon that serves no /metrics: each call does nothing."""

    def record_poll(self, report: StreamReport) -> None:
        pass

    def record_transcription(self, outcome: str) -> None:
        pass

    def record_leader(self, node: str, leading: bool) -> None:
        pass

    def record_api_call(self, method: str, error: str | None) -> None:
        pass

    def watch_store(
        self, facts: StoreFacts, streams: Iterable[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        pass


def served_metrics(config: Config) -> Metrics | None:
    """The daemon's Prometheus metrics when `[health] listen` serves them, else None."""
    if not config.health.listen:
        return None
    from tossd.daemon.metrics import Metrics  # prometheus_client only when served

    return Metrics(config.poll.streams, budget_per_s=config.api.max_requests_per_s)
