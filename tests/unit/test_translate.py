"""Wire records -> events (tossd.poll.translate), and which routes a kind reaches (matches_kind)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from tossd.api.models import CallRecord, Extension, Sms, Voicemail
from tossd.domain import EventKind, ListedExtension, NewEvent, Notice, matches_kind
from tossd.poll.translate import (
    call_events,
    call_kind,
    fold_repeats,
    listed_extension,
    sms_events,
    voicemail_events,
)

T = 1_800_000_000
CALLER = "15559870001"
DID = "15551230007"


def call(
    start: int = T,
    caller: str = CALLER,
    seconds: int = 30,
    extensionid: int = 7,
    duration: int = 40,
) -> CallRecord:
    return CallRecord(
        startdate=start,
        extensionid=extensionid,
        callernum=caller,
        callednum=DID,
        seconds=seconds,
        duration=duration,
    )


def by_identity(events: Iterable[NewEvent]) -> dict[str, NewEvent]:
    return {event.identity: event for event in events}


def test_two_identical_calls_in_one_second_are_two_events() -> None:
    events = call_events([call(), call()], announce_since=0)
    assert [e.identity for e in events] == [
        f"call:7:{T}:{CALLER}:{DID}:0",
        f"call:7:{T}:{CALLER}:{DID}:1",
    ]


@pytest.mark.parametrize(
    ("records", "identities"),
    [
        # Different callers in the same second: each is occurrence 0 of its own tuple.
        (
            [call(caller="15550000001"), call(caller="15550000002")],
            [f"call:7:{T}:15550000001:{DID}:0", f"call:7:{T}:15550000002:{DID}:0"],
        ),
        # The same caller a second apart: two tuples, each occurrence 0.
        (
            [call(T + 1), call(T)],
            [f"call:7:{T}:{CALLER}:{DID}:0", f"call:7:{T + 1}:{CALLER}:{DID}:0"],
        ),
        # The same call on two extensions: told apart by the extension id.
        (
            [call(extensionid=8), call(extensionid=7)],
            [f"call:7:{T}:{CALLER}:{DID}:0", f"call:8:{T}:{CALLER}:{DID}:0"],
        ),
        # Three identical calls: occurrences 0, 1, 2.
        (
            [call(), call(), call()],
            [f"call:7:{T}:{CALLER}:{DID}:{n}" for n in range(3)],
        ),
        # No records: no events.
        ([], []),
    ],
)
def test_call_identities(records: list[CallRecord], identities: list[str]) -> None:
    assert [e.identity for e in call_events(records, announce_since=0)] == identities


def test_call_identities_do_not_depend_on_the_order_listed() -> None:
    records = [call(), call(), call(caller="15550000002"), call(T - 5, seconds=0)]
    first = by_identity(call_events(records, announce_since=0))
    assert len(first) == 4
    for order in itertools.permutations(records):
        assert by_identity(call_events(order, announce_since=0)) == first


def test_same_second_calls_keep_their_identity_whatever_the_order() -> None:
    answered, missed = call(seconds=30), call(seconds=0, duration=12)
    one = by_identity(call_events([answered, missed], announce_since=0))
    other = by_identity(call_events([missed, answered], announce_since=0))
    assert {i: e.kind for i, e in one.items()} == {i: e.kind for i, e in other.items()}


@pytest.mark.parametrize(
    ("start", "announce_since", "announce"),
    [
        # Older than announce_since: history, stored but not announced.
        (T - 1, T, False),
        # Exactly at announce_since: announced.
        (T, T, True),
        # Newer: announced.
        (T + 60, T, True),
        # announce_since 0 (every later poll): everything is announced however old.
        (1, 0, True),
    ],
)
def test_calls_are_announced_from_announce_since(
    start: int, announce_since: int, announce: bool
) -> None:
    (event,) = call_events([call(start)], announce_since=announce_since)
    assert event.announce is announce


def test_a_call_event_carries_the_record() -> None:
    record = call(seconds=0)
    (event,) = call_events([record], announce_since=T)
    assert event == NewEvent(
        kind=EventKind.MISSED_CALL,
        extensionid=7,
        identity=f"call:7:{T}:{CALLER}:{DID}:0",
        occurred_at=T,
        announce=True,
        payload=record.model_dump(),
    )


@pytest.mark.parametrize(
    ("seconds", "duration", "kind"),
    [
        # Nobody answered (neither the forward phone nor voicemail): a missed call.
        (0, 0, EventKind.MISSED_CALL),
        # It rang for 25 s but nobody answered: still missed (duration is not talk time).
        (0, 25, EventKind.MISSED_CALL),
        # Answered for a second: a call.
        (1, 5, EventKind.CALL),
        # A long call.
        (3600, 3610, EventKind.CALL),
    ],
)
def test_call_kind(seconds: int, duration: int, kind: EventKind) -> None:
    assert call_kind(call(seconds=seconds, duration=duration)) is kind


def test_call_kind_reads_the_wire_value() -> None:
    # The API sends numbers as strings and blanks for zero.
    wire = {"startdate": str(T), "seconds": "", "duration": "12"}
    assert call_kind(CallRecord.model_validate(wire)) is EventKind.MISSED_CALL


def sms(smsid: str, direction: str, timestamp: int = T) -> Sms:
    return Sms(
        smsid=smsid,
        source=CALLER,
        destination=DID,
        message="hi",
        timestamp=timestamp,
        direction=direction,
    )


@pytest.mark.parametrize(
    ("texts", "identities"),
    [
        # An incoming text is an event.
        ([sms("11", "in")], ["sms:11"]),
        # An outgoing text (one we sent) is dropped.
        ([sms("12", "out")], []),
        # A text without a direction is taken for incoming.
        ([sms("13", "")], ["sms:13"]),
        # In a mixed batch only the outgoing ones are dropped, the order kept.
        ([sms("21", "in"), sms("22", "out"), sms("23", "in")], ["sms:21", "sms:23"]),
    ],
)
def test_sms_events_drop_outgoing_texts(texts: list[Sms], identities: list[str]) -> None:
    assert [e.identity for e in sms_events(7, texts, announce_since=0)] == identities


def test_an_sms_event_carries_the_text() -> None:
    text = sms("31", "in", T - 10)
    assert sms_events(7, [text], announce_since=T) == [
        NewEvent(
            kind=EventKind.SMS,
            extensionid=7,
            identity="sms:31",
            occurred_at=T - 10,
            announce=False,
            payload=text.model_dump(),
        )
    ]


@pytest.mark.parametrize(
    ("extensionid", "vmid", "identity"),
    [
        # Identity is the extension and the provider's voicemail id.
        (7, "501", "voicemail:7:501"),
        # The same vmid on another extension is another voicemail.
        (8, "501", "voicemail:8:501"),
        # Ids stay text: leading zeros are kept.
        (7, "0042", "voicemail:7:0042"),
    ],
)
def test_voicemail_identity(extensionid: int, vmid: str, identity: str) -> None:
    vm = Voicemail(vmid=vmid, timestamp=T, callerid=CALLER, length=12)
    (event,) = voicemail_events(extensionid, [vm], announce_since=0)
    assert event == NewEvent(
        kind=EventKind.VOICEMAIL,
        extensionid=extensionid,
        identity=identity,
        occurred_at=T,
        announce=True,
        payload=vm.model_dump(),
    )


@pytest.mark.parametrize(
    ("timestamp", "announce"),
    [
        # Left before announce_since: not announced.
        (T - 1, False),
        # At announce_since: announced.
        (T, True),
    ],
)
def test_voicemails_are_announced_from_announce_since(timestamp: int, announce: bool) -> None:
    vm = Voicemail(vmid="9", timestamp=timestamp)
    (event,) = voicemail_events(7, [vm], announce_since=T)
    assert event.announce is announce


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # Every field the store keeps, as the provider sent it (numbers as strings).
        (
            {
                "extensionid": "7",
                "did": 15551230007,
                "forward": "15559990000",
                "added": "1600000000",
                "startdate": "1600000100",
                "enddate": "",
                "alias": "Front Desk",
            },
            ListedExtension(7, "15551230007", "15559990000", 1600000100, 0, "Front Desk"),
        ),
        # A bare listing: defaults for everything but the id.
        ({"extensionid": 8}, ListedExtension(8)),
    ],
)
def test_listed_extension(wire: dict[str, Any], expected: ListedExtension) -> None:
    assert listed_extension(Extension.model_validate(wire)) == expected


@pytest.mark.parametrize(
    ("kind", "wanted", "expected"),
    [
        # A `call` route receives answered calls.
        (EventKind.CALL, {"call"}, True),
        # A `call` route receives missed calls too.
        (EventKind.MISSED_CALL, {"call"}, True),
        # A `missed_call` route receives missed calls.
        (EventKind.MISSED_CALL, {"missed_call"}, True),
        # A `missed_call` route does not receive answered calls.
        (EventKind.CALL, {"missed_call"}, False),
        # Asking for both still matches a missed call (once: matching is yes or no).
        (EventKind.MISSED_CALL, {"call", "missed_call"}, True),
        # Voicemail is not a call.
        (EventKind.VOICEMAIL, {"call", "missed_call"}, False),
        # A missed call is not a voicemail.
        (EventKind.MISSED_CALL, {"voicemail"}, False),
        # A text among several wanted kinds.
        (EventKind.SMS, {"voicemail", "sms"}, True),
        # Nothing wanted: nothing matches.
        (EventKind.SMS, set(), False),
        # tossd's own notices never match an event.
        (EventKind.CALL, {"report", "tossd_error"}, False),
        # The config's Notice members work as well as plain strings.
        (EventKind.MISSED_CALL, {Notice.CALL}, True),
    ],
)
def test_matches_kind(kind: EventKind, wanted: set[str], expected: bool) -> None:
    assert matches_kind(kind, wanted) is expected


def test_matches_kind_reads_a_one_shot_iterable_once() -> None:
    # A generator cannot be read twice: the missed-call rule must see what was asked for.
    assert matches_kind(EventKind.MISSED_CALL, (w for w in ("sms", "call"))) is True


def test_a_reply_repeating_an_id_stores_it_once() -> None:
    # Two voicemails with one vmid, two texts with one smsid: the first of each is kept
    # (before, the store's unique identity failed the whole batch at every poll).
    vms = [Voicemail(vmid="9", timestamp=T), Voicemail(vmid="9", timestamp=T + 1)]
    texts = [Sms(smsid="a", timestamp=T), Sms(smsid="b"), Sms(smsid="a", timestamp=T + 2)]
    folded = fold_repeats(
        [*voicemail_events(7, vms, announce_since=0), *sms_events(7, texts, announce_since=0)]
    )
    assert [(e.identity, e.occurred_at) for e in folded] == [
        ("voicemail:7:9", T),
        ("sms:a", T),
        ("sms:b", 0),
    ]
