"""Pure domain: the kinds and states tossd speaks of, and the values that flow between parts.

Standard library only: no I/O, no logging, no async, no clock (`now` is always a parameter).
Every layer may import this module; it imports nothing of tossd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """What happened on a number."""

    CALL = "call"
    MISSED_CALL = "missed_call"
    VOICEMAIL = "voicemail"
    SMS = "sms"


class Notice(StrEnum):
    """What a route can listen to (`[[route]] events`): every event kind, and tossd's own."""

    CALL = "call"
    MISSED_CALL = "missed_call"
    VOICEMAIL = "voicemail"
    SMS = "sms"
    REPORT = "report"
    TOSSD_ERROR = "tossd_error"


#: The extension id under which an account-wide stream keeps its poll state (no real number
#: has id 0: the provider's ids are positive).
ACCOUNT = 0


class Stream(StrEnum):
    """What is polled, per extension."""

    CALLS = "calls"
    VOICEMAIL = "voicemail"
    SMS = "sms"


class DeliveryKind(StrEnum):
    """What a ledger row carries: an event, a report, or one of tossd's own alerts."""

    EVENT = "event"
    REPORT = "report"
    ALERT = "alert"


class DeliveryState(StrEnum):
    """Where a ledger row is: owed (pending, retrying), done (sent), given up (dead), or
    orphaned: its route or target left the config, so it waits for `tossd outbox retry --all`
    to re-plan it onto the current routes (never silently dropped)."""

    PENDING = "pending"
    RETRYING = "retrying"
    SENT = "sent"
    DEAD = "dead"
    ORPHANED = "orphaned"
    #: A call that reached voicemail, announced as that voicemail (`fold_voicemail_calls`).
    FOLDED = "folded"


class TargetKind(StrEnum):
    """How a target treats text, which decides how untrusted text is neutralised.

    email (HTML-capable mail), slack (mrkdwn + <!here>-style mentions), discord (markdown +
    @everyone), sms (short plain text, no attachments), markdown (other markdown services),
    json (machine receivers), file (tossd-file:// folder target), plain (anything else).
    """

    EMAIL = "email"
    SLACK = "slack"
    DISCORD = "discord"
    SMS = "sms"
    MARKDOWN = "markdown"
    JSON = "json"
    FILE = "file"
    PLAIN = "plain"


#: Unix time now, in seconds: the daemon's clock, handed to every component that reads time.
Clock = Callable[[], float]

#: Bytes in a mebibyte: sizes are bytes in code, MiB only where people write them.
MIB = 1024 * 1024

#: Rows still owed to a target.
OWED_STATES = (DeliveryState.PENDING, DeliveryState.RETRYING)


@dataclass(frozen=True)
class NewEvent:
    """An event as seen in one poll, before the store decides whether it is new.

    `identity` is unique across all events; `announce` is False for history found at the
    first sight of an extension (stored, never notified).
    """

    kind: EventKind
    extensionid: int
    identity: str
    occurred_at: int
    announce: bool
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredEvent:
    """An event as the store holds it."""

    id: int
    kind: EventKind
    extensionid: int
    identity: str
    occurred_at: int
    recorded_at: int
    announce: bool
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class ListedExtension:
    """One number as the provider lists it (from `extensionList`), before the store keeps it."""

    extensionid: int
    did: str = ""
    forward: str = ""
    startdate: int = 0
    enddate: int = 0
    alias: str = ""

    def is_active(self, now: int) -> bool:
        """Open-ended (enddate 0) or ending in the future, and already started."""
        return self.startdate <= now and (self.enddate == 0 or self.enddate > now)

    def known(self) -> KnownExtension:
        return KnownExtension(self.extensionid, self.did, self.alias, self.startdate, self.enddate)


@dataclass(frozen=True)
class KnownExtension:
    """One number as tossd knows it (the store's copy)."""

    extensionid: int
    did: str
    alias: str
    startdate: int
    enddate: int


@dataclass
class StreamReport:
    """What one poll of one stream over every active extension did."""

    stream: Stream
    extensions: int = 0
    failed: int = 0
    new: int = 0
    announced: int = 0
    seen: int = 0
    duration_s: float = 0.0
    new_events: list[StoredEvent] = field(default_factory=list)
    key_rejected: bool = False
    #: Voicemail boxes that new calls made due (calls only).
    due: int = 0
    #: Why the stream changed how it is asked for (a refused account-wide query), if it did.
    reach_error: str = ""
    #: Seconds to cover every number once at this pace (0: not known from this cycle).
    round_s: float = 0.0


@dataclass
class DrainReport:
    """What sending did: counts, and the targets whose breaker opened or closed."""

    planned: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    postponed: int = 0
    folded: int = 0
    #: Rows sent whose result could not be written yet (sending is held meanwhile).
    unrecorded: int = 0
    targets_down: list[str] = field(default_factory=list)
    targets_up: list[str] = field(default_factory=list)


def matches_kind(event_kind: EventKind, wanted: Iterable[str]) -> bool:
    """`call` means every call; `missed_call` only the missed ones.

    A missed call is one event of kind `missed_call`; routes that ask for `call` get it too,
    so one call never makes two notifications on one route.
    """
    wanted = set(wanted)
    if event_kind.value in wanted:
        return True
    return event_kind is EventKind.MISSED_CALL and EventKind.CALL.value in wanted


class TranscriptState(StrEnum):
    DONE = "done"
    #: Failed, with a retry due at `next_attempt_at`.
    RETRYING = "retrying"
    #: Failed for the last time.
    FAILED = "failed"
    #: Not attempted (too long): `last_error` says why.
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Transcript:
    """What the store knows of one voicemail's transcript."""

    event_id: int
    state: TranscriptState
    text: str
    engine: str
    attempts: int
    error: str | None
    took_ms: int | None
    updated_at: int

    @property
    def settled(self) -> bool:
        """No more attempts will come: done, given up or skipped."""
        return self.state is not TranscriptState.RETRYING
