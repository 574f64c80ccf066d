"""Retention: how old is too old (pure), and the bounded loop that deletes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import structlog

from tossd.config.ops import RetentionConfig
from tossd.store.retention import Pruner

log = structlog.get_logger(__name__)

DAY_S = 86400
#: Rows per write transaction: the write lock is held for milliseconds, so polls and
#: deliveries in between barely notice a large first clean-up.
BATCH = 500
#: Batches per kind per run; whatever is left waits for the next run.
MAX_BATCHES = 200


@dataclass(frozen=True)
class Cutoffs:
    """Audio of voicemails, and events, that occurred before these Unix times are deleted."""

    audio_before: int
    events_before: int


@dataclass(frozen=True)
class RetentionReport:
    audio_rows: int = 0
    audio_files: int = 0
    events: int = 0
    deliveries: int = 0
    complete: bool = True


def cutoffs(config: RetentionConfig, now: int) -> Cutoffs:
    return Cutoffs(now - config.audio_days * DAY_S, now - config.events_days * DAY_S)


def prune(
    pruner: Pruner,
    config: RetentionConfig,
    now: int,
    *,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
) -> RetentionReport:
    """Delete old voicemail audio, old events with their finished deliveries, and finished
    deliveries of no event; `complete` is False when `max_batches` stopped a kind early.
    """
    limits = cutoffs(config, now)
    audio_rows, audio_files, audio_done = _repeat(
        lambda: pruner.audio_batch(limits.audio_before, batch, now), batch, max_batches
    )
    events, event_deliveries, events_done = _repeat(
        lambda: pruner.events_batch(limits.events_before, batch), batch, max_batches
    )
    other_deliveries, _, deliveries_done = _repeat(
        lambda: (pruner.deliveries_batch(limits.events_before, batch), 0), batch, max_batches
    )
    report = RetentionReport(
        audio_rows=audio_rows,
        audio_files=audio_files,
        events=events,
        deliveries=event_deliveries + other_deliveries,
        complete=audio_done and events_done and deliveries_done,
    )
    deleted = report.audio_rows or report.audio_files or report.events or report.deliveries
    (log.info if deleted or not report.complete else log.debug)(
        "retention.pruned", **asdict(report)
    )
    return report


def _repeat(
    step: Callable[[], tuple[int, int]], batch: int, max_batches: int
) -> tuple[int, int, bool]:
    """Run `step` until a batch comes back short: (totals..., whether it got to the end)."""
    first = second = 0
    for _ in range(max_batches):
        found, other = step()
        first, second = first + found, second + other
        if found < batch:
            return first, second, True
    return first, second, False
