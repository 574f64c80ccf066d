"""Wire records -> events: the one place that turns what the API said into tossd's values."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from tossd.api.models import CallRecord, Extension, Sms, Voicemail
from tossd.domain import EventKind, ListedExtension, NewEvent


def listed_extension(extension: Extension) -> ListedExtension:
    """The provider's extension as the store keeps it."""
    return ListedExtension(
        extensionid=extension.extensionid,
        did=extension.did,
        forward=extension.forward,
        startdate=extension.startdate,
        enddate=extension.enddate,
        alias=extension.alias,
    )


def call_kind(record: CallRecord) -> EventKind:
    """A call nobody answered (neither the forward phone nor voicemail) is a missed call.

    A missed call is one event of kind `missed_call`; routes that ask for `call` get it too
    (see `matches_kind`), so one call never makes two notifications on one route.
    """
    return EventKind.MISSED_CALL if record.seconds == 0 else EventKind.CALL


def call_events(records: Iterable[CallRecord], *, announce_since: int) -> list[NewEvent]:
    """Calls carry no id: identity = extension + start + caller + called + occurrence index.

    The occurrence index tells apart identical tuples (two calls from the same number in the
    same second); it is stable across polls because identical tuples share a timestamp and so
    are always fetched together.
    """
    # The whole record breaks ties, so the provider's listing order never decides which of
    # two same-second calls is occurrence 0 (a missed and an answered one must not swap).
    ordered = sorted(
        records,
        key=lambda r: (r.extensionid, r.startdate, r.callernum, r.callednum, r.model_dump_json()),
    )
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


def digits(number: str) -> str:
    """A number's digits, the key that matches a DID however it was written."""
    return "".join(ch for ch in number if ch.isdigit())


def account_sms_events(
    texts: Iterable[Sms], owners: Mapping[str, int], *, announce_since: int
) -> list[NewEvent]:
    """Texts of the whole account, each under the number (by its DID's digits) it was sent to;
    0 for a number tossd does not know."""
    return [
        event
        for text in texts
        for event in sms_events(
            owners.get(digits(text.destination), 0), [text], announce_since=announce_since
        )
    ]


def fold_repeats(events: Iterable[NewEvent]) -> list[NewEvent]:
    """The first event of each identity: a reply that lists one
    voicemail (vmid) or text (smsid) twice must store it once, not fail the whole batch on
    the store's unique identity at every poll. Calls never repeat (occurrence indexes)."""
    seen: set[str] = set()
    kept = []
    for event in events:
        if event.identity not in seen:
            seen.add(event.identity)
            kept.append(event)
    return kept
