"""Unit tests of rendering: default templates, hostile values, route templates, digest, time."""

from __future__ import annotations

import re
import tracemalloc
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tossd.domain import EventKind, KnownExtension, StoredEvent, TargetKind
from tossd.errors import ConfigError
from tossd.notify.render import (
    TemplateRenderError,
    compile_template,
    duration_text,
    event_context,
    render_digest,
    render_event,
    render_test,
)
from tossd.text.phone import format_number, is_dialable, place_of
from tossd.text.sanitize import MARKDOWN_KINDS

KINDS: tuple[TargetKind, ...] = tuple(TargetKind)
NEW_YORK = ZoneInfo("America/New_York")
#: Thu 26 Nov 2026 14:05 in New York (EST, UTC-5).
THANKSGIVING = int(datetime(2026, 11, 26, 19, 5, tzinfo=UTC).timestamp())
SALES = KnownExtension(
    extensionid=7, did="+12125550134", alias="Sales line", startdate=0, enddate=0
)
SUPPORT = KnownExtension(extensionid=8, did="+13125550100", alias="Support", startdate=0, enddate=0)
NO_ALIAS = KnownExtension(extensionid=9, did="+12065550100", alias="", startdate=0, enddate=0)

# Payloads as the sandbox makes them (see tossd/sandbox/activity.py).
PAYLOADS: dict[EventKind, dict[str, Any]] = {
    EventKind.CALL: {
        "startdate": THANKSGIVING,
        "duration": 3,
        "extensionid": 7,
        "callednum": "+12125550134",
        "forwardnum": "+19175550100",
        "callernum": "+12025550117",
        "callername": "Dana Whitfield",
        "status": "answered",
        "seconds": 125,
    },
    EventKind.MISSED_CALL: {
        "startdate": THANKSGIVING,
        "duration": 0,
        "extensionid": 8,
        "callednum": "+13125550100",
        "forwardnum": "0",
        "callernum": "+13125550129",
        "callername": "+13125550129",
        "status": "busy",
        "seconds": 0,
    },
    EventKind.VOICEMAIL: {
        "vmid": "41",
        "calleridname": "José Núñez",
        "callerid": "+13055550142",
        "callback": "",
        "timestamp": THANKSGIVING,
        "length": 37,
        "clipid": "9001",
    },
    EventKind.SMS: {
        "smsid": "5501",
        "source": "+12065550104",
        "destination": "+12125550134",
        "message": "Is the bike still for sale?\nThanks — see you at 3pm.",
        "timestamp": THANKSGIVING,
        "direction": "in",
    },
}
HOSTILE = "<!channel> @everyone\r\nBcc: evil@example.com [x](http://evil) *b* {{ 7*7 }} \u202eZ"
HOSTILE_NUMBER = "<@U123ABC> @here\r\n"
#: What no rendering may contain, whatever the kind: Slack/Discord control sequences need a
#: raw angle bracket; broadcast mentions; evaluated template syntax; a reversed direction.
FORBIDDEN = re.compile(r"[<>\r\u202e]|@(?:everyone|here|channel)|\b49\b")
#: An `@` a chat service could read as a mention; in a mailbox or on a phone only a
#: word-start `@` (`bob@example.com` is an address).
MENTION = re.compile(r"@[\w&!]")
WORD_START_MENTION = re.compile(r"(?<![\w.+-])@[\w&!]")


def make_event(
    kind: EventKind, at: int = THANKSGIVING, ident: int = 1, **payload: Any
) -> StoredEvent:
    return StoredEvent(
        id=ident,
        kind=kind,
        extensionid=int(PAYLOADS[kind].get("extensionid", 7)),
        identity=f"{kind.value}:{ident}",
        occurred_at=at,
        recorded_at=at + 5,
        announce=True,
        payload=PAYLOADS[kind] | payload,
    )


@pytest.mark.parametrize(
    ("kind", "extension", "title", "body_lines"),
    [
        (
            EventKind.VOICEMAIL,
            SALES,
            "Voicemail from José Núñez (+1 305-555-0142) on Sales line",
            [
                "Caller location: Florida",
                "Number called: Sales line (+1 212-555-0134)",
                "When: Thu 26 Nov 14:05 EST",
                "Length: 37 s",
                "Call back: +1 305-555-0142",
                "Recording attached (42 KB).",
            ],
        ),
        (
            EventKind.MISSED_CALL,
            SUPPORT,
            "Missed call from +1 312-555-0129 on Support",
            [
                "Caller location: Chicago, IL",
                "Number called: Support (+1 312-555-0100)",
                "Nobody answered (busy).",
                "Call back: +1 312-555-0129",
            ],
        ),
        (
            EventKind.CALL,
            SALES,
            "Call from Dana Whitfield (+1 202-555-0117) on Sales line",
            ["Number called: Sales line (+1 212-555-0134)", "Answered, talked 2 min 05 s."],
        ),
        (
            EventKind.SMS,
            NO_ALIAS,
            "Text from +1 206-555-0104 on +1 206-555-0100",
            [
                # A text is from someone to a number, not a call.
                "From: +1 206-555-0104 (Washington State)",
                "To: +1 206-555-0100",
                "Is the bike still for sale?",
                "Thanks — see you at 3pm.",
            ],
        ),
    ],
)
def test_default_templates(
    kind: EventKind, extension: KnownExtension, title: str, body_lines: list[str]
) -> None:
    note = "Recording attached (42 KB)." if kind is EventKind.VOICEMAIL else None
    got_title, body = render_event(
        make_event(kind), extension, kind="email", tz=NEW_YORK, audio_note=note
    )

    assert got_title == title
    lines = body.splitlines()
    for line in body_lines:
        assert line in lines
    # The title is said once: no line of the body repeats it, whole or as its first part.
    assert not any(line and title.startswith(line) for line in lines)
    assert "Caller location" not in body or kind is not EventKind.SMS
    assert "None" not in body
    assert body == body.strip()


@pytest.mark.parametrize(
    ("kind", "payload", "absent", "present"),
    [
        # Anonymous callers cannot be called back.
        (
            EventKind.CALL,
            {"callernum": "anonymous", "callername": "Restricted"},
            "Call back",
            "Call from Restricted (anonymous)",
        ),
        (EventKind.CALL, {"status": "voicemail"}, "Answered", "Went to voicemail."),
        (EventKind.MISSED_CALL, {"status": "noanswer"}, "(noanswer)", "Nobody answered."),
        # The callback the caller confirmed wins over the number they called from.
        (
            EventKind.VOICEMAIL,
            {"callback": "3125550129"},
            "Call back: +1 305",
            "Call back: +1 312-555-0129",
        ),
        (
            EventKind.VOICEMAIL,
            {"calleridname": "", "callerid": ""},
            "()",
            "Voicemail from Unknown caller",
        ),
    ],
)
def test_default_templates_adapt_to_the_event(
    kind: EventKind, payload: dict[str, Any], absent: str, present: str
) -> None:
    title, body = render_event(
        make_event(kind, **payload), SALES, kind="plain", tz=NEW_YORK, audio_note=None
    )

    assert absent not in body
    assert present in f"{title}\n{body}"


def test_unknown_extension_falls_back_to_the_number_in_the_payload() -> None:
    sms_title, _ = render_event(
        make_event(EventKind.SMS), None, kind="plain", tz=NEW_YORK, audio_note=None
    )
    vm_title, _ = render_event(
        make_event(EventKind.VOICEMAIL), None, kind="plain", tz=NEW_YORK, audio_note=None
    )

    assert sms_title == "Text from +1 206-555-0104 on +1 212-555-0134"
    assert vm_title == "Voicemail from José Núñez (+1 305-555-0142) on extension 7"


HOSTILE_PAYLOADS: dict[EventKind, dict[str, str]] = {
    EventKind.CALL: {"callername": HOSTILE, "callernum": HOSTILE_NUMBER, "status": HOSTILE},
    EventKind.MISSED_CALL: {
        "callername": HOSTILE,
        "callernum": HOSTILE_NUMBER,
        "callednum": HOSTILE,
    },
    EventKind.VOICEMAIL: {"calleridname": HOSTILE, "callerid": HOSTILE_NUMBER, "callback": HOSTILE},
    EventKind.SMS: {"source": HOSTILE_NUMBER, "message": HOSTILE + "\n" + HOSTILE},
}
HOSTILE_EXTENSION = KnownExtension(
    extensionid=7, did=HOSTILE_NUMBER, alias=HOSTILE, startdate=0, enddate=0
)


@pytest.mark.parametrize("target", KINDS)
@pytest.mark.parametrize("kind", list(EventKind))
@pytest.mark.parametrize(
    "extension", [HOSTILE_EXTENSION, None], ids=["hostile-alias", "no-extension"]
)
def test_hostile_values_are_neutralised_in_title_and_body(
    kind: EventKind, target: TargetKind, extension: KnownExtension | None
) -> None:
    event = make_event(kind, **HOSTILE_PAYLOADS[kind])

    title, body = render_event(
        event, extension, kind=target, tz=NEW_YORK, audio_note="Recording attached."
    )

    assert "\n" not in title
    assert len(title) <= 120
    # The value shows as data, never evaluated (in the body, or in the title it opens with).
    assert "{{ 7" in f"{title}\n{body}" and "49" not in f"{title}\n{body}"
    for text in (title, body):
        assert FORBIDDEN.findall(text) == []
        if target in MARKDOWN_KINDS:
            assert re.findall(r"[*\[\]`]", text) == []


@pytest.mark.parametrize("target", KINDS)
def test_hostile_values_are_neutralised_in_the_digest(target: TargetKind) -> None:
    items = [
        (make_event(k, ident=i, **HOSTILE_PAYLOADS[k]), HOSTILE_EXTENSION)
        for i, k in enumerate(EventKind)
    ]

    title, body = render_digest(
        items, route="office", kind=target, tz=NEW_YORK, held_until_text="07:00"
    )

    assert "\n" not in title
    assert FORBIDDEN.findall(title + body) == []
    assert len(body.splitlines()) == 2 + len(items)  # header, blank line, one line each


def test_route_templates_override_the_defaults() -> None:
    title = compile_template(
        "{{ kind_label }} for {{ number.alias }}: {{ caller.name }}", name="route[0].title_template"
    )
    body = compile_template(
        "{{ caller.label }} | {{ caller.place }} | {{ when_iso }}\n"
        "{{ voicemail.length_s }} s | {{ audio_note }}",
        name="route[0].body_template",
    )

    got = render_event(
        make_event(EventKind.VOICEMAIL),
        SALES,
        kind="email",
        tz=NEW_YORK,
        audio_note="Recording attached (42 KB).",
        title_template=title,
        body_template=body,
    )

    assert got == (
        "Voicemail for Sales line: José Núñez",
        "José Núñez (+1 305-555-0142) | Florida | 2026-11-26T14:05:00-05:00\n"
        "37 s | Recording attached (42 KB).",
    )


def test_a_route_title_alone_keeps_the_default_body() -> None:
    title = compile_template("{{ caller.number_display }}\r\n{{ caller.name }}", name="t")
    default = render_event(
        make_event(EventKind.CALL), SALES, kind="plain", tz=NEW_YORK, audio_note=None
    )

    got = render_event(
        make_event(EventKind.CALL),
        SALES,
        kind="plain",
        tz=NEW_YORK,
        audio_note=None,
        title_template=title,
    )

    assert got == ("+1 202-555-0117 Dana Whitfield", default[1])


def test_missing_values_in_route_templates_print_nothing() -> None:
    body = compile_template(
        "[{{ sms.message }}][{{ nope.deeper.still }}][{{ voicemail }}]", name="b"
    )

    _, got = render_event(
        make_event(EventKind.CALL),
        SALES,
        kind="plain",
        tz=NEW_YORK,
        audio_note=None,
        body_template=body,
    )

    assert got == "[][][]"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ caller.__class__.__init__.__globals__['os'].system('true') }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ caller.name() }}",
        "{{ 1 / 0 }}",
        "{% for i in range(10**9) %}{% endfor %}",
    ],
)
def test_failing_route_templates_fall_back_to_the_default(source: str) -> None:
    event = make_event(EventKind.MISSED_CALL)
    default = render_event(event, SUPPORT, kind="slack", tz=NEW_YORK, audio_note=None)
    body = compile_template(source, name="route[2].body_template")

    with pytest.raises(TemplateRenderError) as caught:
        render_event(event, SUPPORT, kind="slack", tz=NEW_YORK, audio_note=None, body_template=body)

    assert caught.value.fallback == default
    assert caught.value.message.startswith("body_template: ")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ caller.items.__self__.__class__ }}",
    ],
)
def test_reading_unsafe_attributes_yields_nothing(source: str) -> None:
    title = compile_template(source + "x", name="t")

    got, _ = render_event(
        make_event(EventKind.CALL),
        SALES,
        kind="plain",
        tz=NEW_YORK,
        audio_note=None,
        title_template=title,
    )

    assert got == "x"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{% for %}", "line 1"),
        ("ok\n{{ caller.name ", "line 2"),
        ("{% if answered %}no end", "endif"),
        ("{{ caller.name | no_such_filter }}", "no_such_filter"),
    ],
)
def test_compile_template_names_the_key(source: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_template(source, name="route[0].body_template")

    assert caught.value.message.startswith("route[0].body_template: ")
    assert reason in caught.value.message


def test_template_syntax_in_values_is_data() -> None:
    event = make_event(EventKind.SMS, message="{{ 7*7 }} {% raw %}{% for x in y %}")

    _, body = render_event(event, SALES, kind="email", tz=NEW_YORK, audio_note=None)

    assert body.endswith("{{ 7*7 }} {% raw %}{% for x in y %}")


def test_digest() -> None:
    at = THANKSGIVING
    items: list[tuple[StoredEvent, KnownExtension | None]] = [
        (make_event(EventKind.MISSED_CALL, at=at + 300, ident=2), SUPPORT),
        (make_event(EventKind.VOICEMAIL, at=at, ident=1), SALES),
        (make_event(EventKind.MISSED_CALL, at=at + 600, ident=3), SUPPORT),
        (
            make_event(
                EventKind.VOICEMAIL,
                at=at + 900,
                ident=4,
                calleridname="王芳",
                callerid="+16465550181",
            ),
            SALES,
        ),
        (make_event(EventKind.MISSED_CALL, at=at + 1200, ident=5), None),
    ]

    title, body = render_digest(
        items, route="office", kind="email", tz=NEW_YORK, held_until_text="Fri 27 Nov 07:00"
    )

    assert title == "tossd: 5 events during quiet hours (2 voicemails, 3 missed calls)"
    lines = body.splitlines()
    assert (
        lines[0]
        == "5 events arrived during quiet hours on route office, held until Fri 27 Nov 07:00."
    )
    assert lines[2:] == [
        "Thu 26 Nov 14:05 EST · Voicemail from José Núñez (+1 305-555-0142) to Sales line · 37 s",
        "Thu 26 Nov 14:10 EST · Missed call from +1 312-555-0129 to Support",
        "Thu 26 Nov 14:15 EST · Missed call from +1 312-555-0129 to Support",
        "Thu 26 Nov 14:20 EST · Voicemail from 王芳 (+1 646-555-0181) to Sales line · 37 s",
        "Thu 26 Nov 14:25 EST · Missed call from +1 312-555-0129 to +1 312-555-0100",
    ]


def test_digest_of_one_text_without_release_time() -> None:
    title, body = render_digest(
        [(make_event(EventKind.SMS), SALES)],
        route="night",
        kind="plain",
        tz=NEW_YORK,
        held_until_text=None,
    )

    assert title == "tossd: 1 event during quiet hours (1 text)"
    assert body.splitlines()[0] == "1 event arrived during quiet hours on route night."
    assert body.splitlines()[-1].endswith("· Is the bike still for sale? Thanks — see you at 3pm.")


def test_render_test() -> None:
    title, body = render_test("office", "mailto://me@example.com")

    assert title == "tossd: test notification for route office"
    assert "mailto://me@example.com" in body
    assert "route office" in body


@pytest.mark.parametrize(
    ("utc", "when", "abbr", "iso"),
    [
        # 2026-11-01: New York leaves daylight time at 02:00 EDT, so 01:30 happens twice.
        (
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
            "Sun 1 Nov 01:30",
            "EDT",
            "2026-11-01T01:30:00-04:00",
        ),
        (
            datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
            "Sun 1 Nov 01:30",
            "EST",
            "2026-11-01T01:30:00-05:00",
        ),
        (
            datetime(2026, 11, 1, 7, 30, tzinfo=UTC),
            "Sun 1 Nov 02:30",
            "EST",
            "2026-11-01T02:30:00-05:00",
        ),
        (
            datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
            "Sun 8 Mar 03:30",
            "EDT",
            "2026-03-08T03:30:00-04:00",
        ),
    ],
)
def test_local_time_follows_daylight_saving(utc: datetime, when: str, abbr: str, iso: str) -> None:
    event = make_event(EventKind.VOICEMAIL, at=int(utc.timestamp()))

    context = event_context(event, SALES, kind="plain", tz=NEW_YORK, audio_note=None)
    _, body = render_event(event, SALES, kind="plain", tz=NEW_YORK, audio_note=None)

    assert (context["when"], context["tz_abbr"], context["when_iso"]) == (when, abbr, iso)
    assert context["tz"] == "America/New_York"
    assert f"When: {when} {abbr}" in body.splitlines()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("email", "*hi*\n\n\n@\u2060here"),
        ("slack", "\N{ASTERISK OPERATOR}hi\N{ASTERISK OPERATOR}\n\n\n@\u2060here"),
    ],
)
def test_context_is_cleaned_for_the_target_kind(target: TargetKind, message: str) -> None:
    event = make_event(EventKind.SMS, message="*hi*\n\n\n\n\n@here")

    context = event_context(event, SALES, kind=target, tz=NEW_YORK, audio_note=None)

    assert context["sms"]["message"] == message
    assert context["detail"] == message.replace("\n\n\n", " ")
    assert context["voicemail"] is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (42, "42 s"),
        (60, "1 min 00 s"),
        (125, "2 min 05 s"),
        (3725, "1 h 02 min 05 s"),
        (-5, "0 s"),
    ],
)
def test_duration_text(seconds: int, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize(
    ("raw", "display", "place", "dialable"),
    [
        ("+12125550134", "+1 212-555-0134", "New York, NY", True),
        ("2125550134", "+1 212-555-0134", "New York, NY", True),
        ("12125550134", "+1 212-555-0134", "New York, NY", True),
        ("+442079460731", "+44 20 7946 0731", "London", True),
        ("442079460731", "+44 20 7946 0731", "London", True),  # lost its "+"
        (" +1 (312) 555-0129 ", "+1 312-555-0129", "Chicago, IL", True),
        ("anonymous", "anonymous", "", False),
        ("Restricted", "Restricted", "", False),
        ("", "", "", False),
        ("12345", "12345", "", False),
        ("555\r\n<!here>", "555 <!here>", "", False),  # printable; the kind's cleaning follows
    ],
)
def test_phone_numbers(raw: str, display: str, place: str, dialable: bool) -> None:
    assert format_number(raw) == display
    assert place_of(raw) == place
    assert is_dialable(raw) is dialable


@settings(max_examples=150, deadline=None)
@given(
    name=st.text(max_size=120),
    number=st.text(max_size=40),
    message=st.text(max_size=300),
    kind=st.sampled_from(list(EventKind)),
    target=st.sampled_from(KINDS),
)
def test_any_caller_text_renders_inert(
    name: str, number: str, message: str, kind: EventKind, target: TargetKind
) -> None:
    name_field, number_field = {
        EventKind.CALL: ("callername", "callernum"),
        EventKind.MISSED_CALL: ("callername", "callernum"),
        EventKind.VOICEMAIL: ("calleridname", "callerid"),
        EventKind.SMS: ("message", "source"),
    }[kind]
    values = {name_field: message if kind is EventKind.SMS else name, number_field: number}
    event = make_event(kind, **values)
    mention = WORD_START_MENTION if target in ("email", "sms") else MENTION

    title, body = render_event(event, SALES, kind=target, tz=NEW_YORK, audio_note=None)

    assert "\n" not in title and len(title) <= 120
    for text in (title, body):
        assert re.findall(r"[<>\r\x00-\x08\u202a-\u202e\u2066-\u2069]", text) == []
        assert mention.findall(text) == []
        if target in MARKDOWN_KINDS:
            assert re.findall(r"[*\[\]`~|]", text) == []


#: One megabyte of a value a stranger controls: hidden characters, mentions and digits mixed,
#: so every sanitising step would have work to do on all of it.
MEGABYTE = ("+1 212 555 0134 \u200b@everyone <!here> ") * (1024 * 1024 // 36)
#: Far below what touching each character of a megabyte costs (a list of a million strings
#: alone is 8 MB); far above what rendering a capped event needs.
BOUNDED_PEAK_BYTES = 512 * 1024


@pytest.mark.parametrize("target", [TargetKind.SLACK, TargetKind.EMAIL, TargetKind.JSON])
@pytest.mark.parametrize("kind", list(EventKind))
def test_a_megabyte_value_is_cut_before_any_other_work(kind: EventKind, target: TargetKind) -> None:
    """Bounded work on untrusted input: rendering costs O(capped size), not O(what was sent),
    measured as peak memory (deterministic, unlike time)."""
    huge = {key: MEGABYTE for key, value in PAYLOADS[kind].items() if isinstance(value, str)}
    event = make_event(kind, **huge)
    tracemalloc.start()
    try:
        title, body = render_event(event, SALES, kind=target, tz=NEW_YORK, audio_note=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < BOUNDED_PEAK_BYTES
    assert len(title) <= 120
    assert len(body) < 4000


@pytest.mark.parametrize(
    ("at", "when"),
    [
        (253_402_300_800, "Wed 31 Dec 19:00"),  # year 10000: shown as the last showable day
        (2**62, "Wed 31 Dec 19:00"),  # far beyond it
        (-(2**62), "Mon 31 Dec"),  # before year 2 (local mean time then)
    ],
)
def test_a_date_no_zone_can_show_still_renders(at: int, when: str) -> None:
    """Rows stored before dates were checked at the edge may hold any integer."""
    title, body = render_event(
        make_event(EventKind.MISSED_CALL, at=at),
        SUPPORT,
        kind="email",
        tz=NEW_YORK,
        audio_note=None,
    )
    assert title.startswith("Missed call") and when in body
