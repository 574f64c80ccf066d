"""A stream cycle's report: what its fetches stored, how long it took, and its log lines."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import structlog

from tossd.domain import Stream, StreamReport
from tossd.errors import ApiKeyRejected, TossdError
from tossd.poll import plan
from tossd.poll.plan import Reach, StreamReach
from tossd.poll.window import implausible
from tossd.store.records import BatchResult

log = structlog.get_logger(__name__)

Outcome = tuple[BatchResult | None, TossdError | None]


def add_outcomes(report: StreamReport, outcomes: Sequence[Outcome]) -> None:
    """Count what each fetch stored, or its failure, into `report`."""
    for result, error in outcomes:
        if error is not None:
            report.failed += 1
            report.key_rejected |= isinstance(error, ApiKeyRejected)
        if result is not None:
            report.new += len(result.new)
            report.seen += result.seen
            report.announced += sum(1 for e in result.new if e.announce)
            report.new_events.extend(result.new)


def say_reach(report: StreamReport, reach: StreamReach) -> None:
    """One line when a stream changes how it is asked for (never one per number)."""
    if reach.reach is Reach.ACCOUNT:
        log.info("poll.account_wide", stream=report.stream.value)
        return
    log.warning(
        "poll.account_wide_refused" if reach.reach is Reach.PER_NUMBER else "poll.unsupported",
        stream=report.stream.value,
        now=reach.reach.value,
        error=report.reach_error,
        retry_in_s=int(plan.REPROBE_S),
    )


def say_stretched(stream: Stream, numbers: int, per_cycle: int, round_s: float) -> None:
    """A round of per-number queries no longer fits one interval (said once per stream)."""
    log.warning(
        "poll.stretched",
        stream=stream.value,
        numbers=numbers,
        per_cycle=per_cycle,
        round_s=round_s,
        advice="raise [api] max_requests_per_s if the provider allows it",
    )


def finish(report: StreamReport, started: float) -> StreamReport:
    """Time the cycle and log it: at debug when idle, so a quiet daemon stays quiet."""
    report.duration_s = time.perf_counter() - started
    (log.info if report.new or report.failed else log.debug)(
        "poll.cycle",
        stream=report.stream.value,
        extensions=report.extensions,
        failed=report.failed,
        new=report.new,
        announced=report.announced,
        seen=report.seen,
        due=report.due,
        duration_s=round(report.duration_s, 3),
    )
    return report


def say_implausible(
    stream: Stream, result: BatchResult, now: int, opened: Mapping[int, int]
) -> None:
    """One line per stored record whose time moved no watermark, when it is first stored
    (a record dated tomorrow is fetched again at every poll until then: said once)."""
    for event in implausible(result.new, now, opened):
        log.warning(
            "poll.implausible_time",
            stream=stream.value,
            extensionid=event.extensionid,
            identity=event.identity,
            occurred_at=event.occurred_at,
            now=now,
        )
