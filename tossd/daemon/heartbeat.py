"""The hourly heartbeat: one info line saying what the daemon did since the last one.

Idle cycles log at debug, so at `info` a quiet daemon writes this line and nothing else;
a busy one still logs every event, delivery and failure where it happens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tossd.domain import StreamReport

#: Seconds between two heartbeat lines.
HEARTBEAT_S = 3600.0


@dataclass
class Counts:
    """What happened since the last heartbeat."""

    cycles: int = 0
    events: int = 0
    deliveries: int = 0
    failures: int = 0


class Heartbeat:
    """Adds up polls and deliveries; `beat()` hands out the totals and starts again."""

    def __init__(self) -> None:
        self._counts = Counts()

    def after_poll(self, report: StreamReport) -> None:
        self._counts.cycles += 1
        self._counts.events += report.new
        self._counts.failures += report.failed

    def after_drain(self, sent: int, failed: int) -> None:
        self._counts.deliveries += sent
        self._counts.failures += failed

    def beat(self) -> dict[str, int]:
        """The counts since the last beat (as log fields), then zero."""
        counts, self._counts = self._counts, Counts()
        return asdict(counts)
