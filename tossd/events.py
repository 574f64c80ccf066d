"""Pure domain: what an event is, its identity, its kind, and whether it counts as new.

No I/O, no logging, no async, no clock: `now` is always a parameter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tossd.api.models import CallRecord, Sms, Voicemail


class EventKind(StrEnum):
    CALL = "call"
    MISSED_CALL = "missed_call"
    VOICEMAIL = "voicemail"
    SMS = "sms"


class Stream(StrEnum):
    """What is polled, per extension."""

    CALLS = "calls"
    VOICEMAIL = "voicemail"
    SMS = "sms"


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


def call_kind(record: CallRecord) -> EventKind:
    """A call nobody answered (neither the forward phone nor voicemail) is a missed call.

    A missed call is one event of kind `missed_call`; routes that ask for `call` get it too
    (see `matches_kind`), so one call never makes two notifications on one route.
    """
    return EventKind.MISSED_CALL if record.seconds == 0 else EventKind.CALL


def matches_kind(event_kind: EventKind, wanted: Iterable[str]) -> bool:
    """`call` means every call; `missed_call` only the missed ones."""
    wanted = set(wanted)
    if event_kind.value in wanted:
        return True
    return event_kind is EventKind.MISSED_CALL and EventKind.CALL.value in wanted


def announce_from(first_sight: bool, now: int, initial_window_s: int) -> int:
    """The oldest timestamp that still counts as new.

    At the first sight of an extension only the last `initial_window_s` are announced, so a
    fresh install does not flood; afterwards everything is new, however old, so nothing that
    happened while tossd was down is skipped.
    """
    return now - initial_window_s if first_sight else 0


def call_events(records: Iterable[CallRecord], *, announce_since: int) -> list[NewEvent]:
    """Calls carry no id: identity = extension + start + caller + called + occurrence index.

    The occurrence index tells apart identical tuples (two calls from the same number in the
    same second); it is stable across polls because identical tuples share a timestamp and so
    are always fetched together.
    """
    ordered = sorted(records, key=lambda r: (r.extensionid, r.startdate, r.callernum, r.callednum))
    seen: Counter[tuple[int, int, str, str]] = Counter()
    events = []
    for record in ordered:
        key = (record.extensionid, record.startdate, record.callernum, record.callednum)
        occurrence = seen[key]
        seen[key] += 1
        identity = "call:{}:{}:{}:{}:{}".format(*key, occurrence)
        events.append(
            NewEvent(
                kind=call_kind(record),
                extensionid=record.extensionid,
                identity=identity,
                occurred_at=record.startdate,
                announce=record.startdate >= announce_since,
                payload=record.model_dump(),
            )
        )
    return events


def voicemail_events(
    extensionid: int, voicemails: Iterable[Voicemail], *, announce_since: int
) -> list[NewEvent]:
    return [
        NewEvent(
            kind=EventKind.VOICEMAIL,
            extensionid=extensionid,
            identity=f"voicemail:{extensionid}:{vm.vmid}",
            occurred_at=vm.timestamp,
            announce=vm.timestamp >= announce_since,
            payload=vm.model_dump(),
        )
        for vm in voicemails
    ]


def sms_events(extensionid: int, texts: Iterable[Sms], *, announce_since: int) -> list[NewEvent]:
    return [
        NewEvent(
            kind=EventKind.SMS,
            extensionid=extensionid,
            identity=f"sms:{text.smsid}",
            occurred_at=text.timestamp,
            announce=text.timestamp >= announce_since,
            payload=text.model_dump(),
        )
        for text in texts
        if text.direction in ("in", "")
    ]


def next_watermark(previous: int | None, events: Iterable[NewEvent]) -> int | None:
    """The newest source timestamp seen so far; never our own clock.

    A quiet extension keeps its watermark, so the next window still starts before anything
    the provider may yet add; an empty window costs one small request, not more.
    """
    newest = max((e.occurred_at for e in events), default=None)
    if newest is None:
        return previous
    return newest if previous is None else max(previous, newest)
