"""Whether tossd is healthy (a pure judgement), /healthz and /metrics, and `tossd health`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from tossd.config.model import Config, PollConfig
from tossd.daemon.cluster import cluster_json, cluster_lines
from tossd.domain import ACCOUNT, KnownExtension
from tossd.errors import StoreError
from tossd.store.files import ensure_private_dir, write_atomic
from tossd.store.ledger_stats import NodeFacts, StoreFacts
from tossd.store.records import PollState, covering
from tossd.text.untrusted import one_line

#: A stream is stale once its last success is older than this many of its intervals.
STALE_AFTER_INTERVALS = 3
#: In the state directory: when the daemon started, for `tossd health` in another process.
START_FILE = "daemon-started.json"
#: In the state directory while the API refuses the key: unhealthy at once, not after three
#: intervals of nothing polled.
KEY_REJECTED_FILE = "key-rejected.json"


@dataclass(frozen=True)
class StreamHealth:
    """One stream of one number: when it last succeeded and until when that is enough."""

    extensionid: int
    number: str
    stream: str
    last_success_at: int | None
    deadline: float | None
    last_error: str | None
    healthy: bool


@dataclass(frozen=True)
class HealthReport:
    """What /healthz answers and `tossd health` prints; `reasons` is empty when `ok`."""

    ok: bool
    reasons: tuple[str, ...]
    streams: tuple[StreamHealth, ...]
    checked_at: float
    #: The daemons sharing the store, the leader first (empty before any daemon ran).
    nodes: tuple[NodeFacts, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reasons": list(self.reasons),
            "checked_at": int(self.checked_at),
            "streams": [
                {
                    "extensionid": s.extensionid,
                    "number": s.number,
                    "stream": s.stream,
                    "last_success_at": s.last_success_at,
                    "healthy": s.healthy,
                }
                for s in self.streams
            ],
            **(cluster_json(self.nodes) if self.nodes else {}),
        }

    def render_text(self) -> str:
        cluster = "".join(f"{line}\n" for line in cluster_lines(self.nodes, self.checked_at))
        if self.ok:
            return f"healthy: {len(self.streams)} streams polled on time\n" + cluster
        return "unhealthy:\n" + "".join(f"  {reason}\n" for reason in self.reasons) + cluster


def unhealthy(reason: str, now: float) -> HealthReport:
    return HealthReport(False, (reason,), (), now)


def judge(
    extensions: Sequence[KnownExtension],
    known: int,
    states: Sequence[PollState],
    intervals: Mapping[str, float],
    now: float,
    started_at: float | None,
    key_rejected: str | None = None,
) -> HealthReport:
    """Healthy when every active number's every stream (the keys of `intervals`) succeeded
    within STALE_AFTER_INTERVALS of its interval (pure).

    The clock of a stream starts at its last success or at `started_at`, whichever is later:
    after a start (or a restart after downtime) each stream gets the same grace.
    """
    by_key = {(s.extensionid, s.stream.value): s for s in states}
    checked = tuple(
        _judge_stream(
            ext,
            stream,
            covering(by_key.get((ext.extensionid, stream)), by_key.get((ACCOUNT, stream))),
            interval,
            now,
            started_at,
        )
        for ext in extensions
        for stream, interval in intervals.items()
    )
    reasons = [_reason(s, now) for s in checked if not s.healthy]
    shortest = min(intervals.values(), default=0.0)
    if not known and _grace_over(started_at, shortest, now):
        reasons.insert(0, "no number known: the extension list was never fetched")
    if key_rejected is not None:
        reasons.insert(0, f"the API key was rejected: {key_rejected}")
    return HealthReport(not reasons, tuple(reasons), checked, now)


def _grace_over(started_at: float | None, interval: float, now: float) -> bool:
    return started_at is None or now > started_at + STALE_AFTER_INTERVALS * interval


def _judge_stream(
    ext: KnownExtension,
    stream: str,
    state: PollState | None,
    interval: float,
    now: float,
    started_at: float | None,
) -> StreamHealth:
    last = None if state is None else state.last_success_at
    clock_from = max((t for t in (last, started_at) if t is not None), default=None)
    deadline = None if clock_from is None else clock_from + STALE_AFTER_INTERVALS * interval
    return StreamHealth(
        extensionid=ext.extensionid,
        number=ext.alias or ext.did or str(ext.extensionid),
        stream=stream,
        last_success_at=last,
        deadline=deadline,
        last_error=None if state is None else state.last_error,
        healthy=deadline is not None and now <= deadline,
    )


def _reason(s: StreamHealth, now: float) -> str:
    if s.last_success_at is None:
        text = f"{s.stream} of {s.number} ({s.extensionid}): never polled successfully"
    else:
        age = int(now - s.last_success_at)
        text = f"{s.stream} of {s.number} ({s.extensionid}): last success {age}s ago"
    return text + (f": {s.last_error}" if s.last_error else "")


def health_facts(
    facts: StoreFacts,
    intervals: Mapping[str, float],
    now: float,
    started_at: float | None = None,
    key_rejected: str | None = None,
) -> HealthReport:
    """`judge` on what the store says now; an unreadable store is unhealthy, not an error."""
    try:
        extensions, known = facts.extensions()
        states = facts.poll_states()
        nodes = tuple(facts.nodes())
    except StoreError as exc:
        return unhealthy(f"store: {exc.message}", now)
    report = judge(extensions, known, states, intervals, now, started_at, key_rejected)
    return replace(report, nodes=nodes)


def stream_intervals(poll: PollConfig) -> dict[str, float]:
    """Each configured stream's polling interval, as `judge` wants them."""
    return {stream: poll.interval_for(stream) for stream in poll.streams}


@dataclass(frozen=True)
class HealthCheck:
    """`health_facts` bound to the daemon's store, streams, start time and clock."""

    facts: StoreFacts
    intervals: Mapping[str, float]
    started_at: float | None = None
    clock: Callable[[], float] = time.time
    state_dir: Path | None = None
    #: What is wrong with the database file (deleted, read-only): the store's reads go on
    #: working from the open file, so only this tells.
    store_file: Callable[[], str | None] = lambda: None

    def report(self) -> HealthReport:
        rejected = None if self.state_dir is None else read_key_rejected(self.state_dir)
        report = health_facts(self.facts, self.intervals, self.clock(), self.started_at, rejected)
        trouble = self.store_file()
        if trouble is None:
            return report
        return replace(report, ok=False, reasons=(f"store: {trouble}", *report.reasons))


def record_start(state_dir: Path, started_at: float) -> None:
    """Note the daemon's start, so `tossd health` grants new streams the same grace."""
    ensure_private_dir(state_dir, tighten_existing=False)
    write_atomic(state_dir / START_FILE, json.dumps({"started_at": started_at}).encode())


def read_start(state_dir: Path) -> float | None:
    """The start `record_start` noted; None when there is none (or it is unreadable)."""
    try:
        value = json.loads((state_dir / START_FILE).read_bytes()).get("started_at")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def record_key_rejected(state_dir: Path, error: str | None) -> None:
    """Note that the API refuses the key (None: that it no longer does)."""
    path = state_dir / KEY_REJECTED_FILE
    if error is None:
        path.unlink(missing_ok=True)
        return
    ensure_private_dir(state_dir, tighten_existing=False)
    write_atomic(path, json.dumps({"error": error}).encode())


def read_key_rejected(state_dir: Path) -> str | None:
    """What the API said when it refused the key, while it does; else None."""
    try:
        error = json.loads((state_dir / KEY_REJECTED_FILE).read_bytes()).get("error")
    except (OSError, ValueError, AttributeError):
        return None
    return one_line(error, max_len=200) if isinstance(error, str) else None


def check_health(config: Config, *, now: float | None = None, out: TextIO | None = None) -> int:
    """`tossd health`: the same judgement from the store on disk; 0 healthy, 1 not.

    Works whether or not the daemon serves /healthz (Docker's HEALTHCHECK runs this).
    """
    now = time.time() if now is None else now
    started_at = read_start(config.state_dir)
    try:
        with StoreFacts.open_existing(config.store_url) as facts:
            intervals = stream_intervals(config.poll)
            rejected = read_key_rejected(config.state_dir)
            report = health_facts(facts, intervals, now, started_at, rejected)
    except StoreError as exc:
        report = unhealthy(f"store: {exc.message}", now)
    print(report.render_text(), end="", file=out or sys.stdout)
    return 0 if report.ok else 1
