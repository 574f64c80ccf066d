"""`tossd events` as text: zones with their abbreviation, terminal widths, --number."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from wcwidth import wcswidth

from tossd.cli.eventlist import matching_numbers, render_table
from tossd.domain import EventKind, KnownExtension, StoredEvent

WINTER = 1_767_261_600  # 2026-01-01 10:00 UTC


def call(name: str, number: str = "2125550100") -> StoredEvent:
    payload = {"callername": name, "callernum": number, "seconds": 5}
    return StoredEvent(1, EventKind.CALL, 7, "x", WINTER, WINTER, True, payload)


def test_times_are_in_the_zone_given_with_its_abbreviation() -> None:
    text = render_table([call("Ann")], {7: "office"}, ZoneInfo("America/New_York"))
    assert "2026-01-01 05:00:00 EST" in text
    assert "2026-01-01 10:00:00 UTC" in render_table([call("Ann")], {7: "office"})


def test_wide_names_keep_the_columns_aligned() -> None:
    table = render_table([call("東京太郎"), call("Ann Lee")], {7: "オフィス"}).splitlines()
    # The DETAIL column starts at the same terminal column on every line.
    starts = [wcswidth(line[: line.rindex("  ") + 2]) for line in table[1:]]
    assert len(set(starts)) == 1, table


EXTENSIONS = [
    KnownExtension(101, "12125550100", "Office", 0, 0),
    KnownExtension(202, "13105550199", "Sales", 0, 0),
]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        # The DID as stored.
        ("12125550100", [101]),
        # The DID as people write it, with or without the country code.
        ("+1 (212) 555-0100", [101]),
        ("310-555-0199", [202]),
        # The alias, case aside.
        ("sales", [202]),
        # The extension id.
        ("101", [101]),
        # Nothing of the account.
        ("999", []),
    ],
)
def test_number_by_did_alias_or_id(wanted: str, expected: list[int]) -> None:
    assert matching_numbers(wanted, EXTENSIONS) == expected


@pytest.mark.parametrize(
    ("at", "shown"),
    [
        (253_402_300_800, "9997-12-31"),  # year 10000, stored by a version that let it in
        (-(2**62), "1-12-31 19:03:58 LMT"),  # before year 2
    ],
)
def test_a_date_no_zone_can_show_is_listed_at_the_nearest_one(at: int, shown: str) -> None:
    event = StoredEvent(1, EventKind.CALL, 7, "x", at, at, True, {"callernum": "2125550100"})
    assert shown in render_table([event], {}, ZoneInfo("America/New_York"))


def voicemail_event(ident: int, name: str) -> StoredEvent:
    return StoredEvent(
        ident, EventKind.VOICEMAIL, 7, f"vm:{ident}", 1_700_000_000 + ident, 1_700_000_000, True,
        {"calleridname": name, "callerid": "+13125550199", "length": 9},
    )  # fmt: skip


def test_voicemails_carry_their_transcript_in_json_and_grep_finds_its_words() -> None:
    import json

    from tossd.cli.eventlist import matches, render_json_lines
    from tossd.domain import Transcript, TranscriptState

    heard = voicemail_event(1, "Ada")
    pending = voicemail_event(2, "Bob")
    text = Transcript(
        1, TranscriptState.DONE, "Call me about the INVOICE", "local", 1, None, 900, 1
    )
    lines = render_json_lines([heard, pending, call("Cy")], {1: text}).splitlines()
    first, second, third = (json.loads(line) for line in lines)
    assert first["transcript"] == {
        "state": "done", "text": "Call me about the INVOICE", "engine": "local", "error": None,
        "attempts": 1, "took_ms": 900,
    }  # fmt: skip
    assert second["transcript"] is None and "transcript" not in third
    assert matches(heard, text, "invoice") and not matches(pending, None, "invoice")
    assert matches(pending, None, "bob")  # the caller's name counts too
    table = render_table([heard], {7: "Sales"}, transcripts={1: text})
    assert "9 s voicemail: Call me about the INVOICE" in table
