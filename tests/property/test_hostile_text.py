"""Hostile caller IDs and texts through every template (the defaults, a route's own, the
quiet-hours digest) for every target kind, and into the folder target's files: inert text,
one-line titles, capped lengths, no file named after a stranger's words."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tossd.domain import EventKind, KnownExtension, StoredEvent, TargetKind
from tossd.notify.apprise.send import send
from tossd.notify.message import Message
from tossd.notify.render import compile_template, render_digest, render_event
from tossd.text.sanitize import MARKDOWN_KINDS, WORD_JOINER

KINDS: tuple[TargetKind, ...] = tuple(TargetKind)
ZONE = ZoneInfo("America/New_York")
AT = int(datetime(2026, 3, 8, 7, 30, tzinfo=UTC).timestamp())  # the DST change, for good measure
HOSTILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Pieces that have made notifiers misbehave: chat mentions and links, markdown, header and
#: line injection, terminal escapes, bidi and invisible characters, full-width look-alikes,
#: encoded words, template syntax, path traversal.
SNIPPETS = [
    "<!channel>", "<!here>", "<!everyone>", "@everyone", "@here", "@channel", "<@U123ABC>",
    "<@&42>", "<#C1|general>", "<http://evil.example|click>", "<t:1:R>", "*bold*", "_it_",
    "~strike~", "`code`", "```", "[x](http://evil.example)", "# Heading", "> quote", "||x||",
    "---", "===", "\r\n", "\n", "\r", "\x00", "\x07", "\x1b[31m", "\x85", "\u2028", "\u2029",
    "\u202e", "\u2066", "\u200b", "\u200d", "\u2060", "\ufeff", "\u115f", "\u3164",
    "\uff1c!here\uff1e", "\uff20everyone", "=?utf-8?b?SGk=?=", "Bcc: evil@example.com",
    "{{ 7*7 }}", "{% raw %}", "{#", "%0d%0a", "../../etc/passwd", "\t",
    "👩\u200d💻", "🏳️\u200d🌈", "+1 (212) 555-0134", "anonymous",
]  # fmt: skip
TEXT = st.lists(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=12)), max_size=14).map(
    "".join
)

#: A route's own templates, reading every value that comes from the API.
CUSTOM_TITLE = compile_template(
    "{{ kind_label }}: {{ caller.label }} ({{ caller.name }}) on {{ number.label }}",
    name="route[0].title_template",
)
CUSTOM_BODY = compile_template(
    "name {{ caller.name }} / number {{ caller.number }} / shown {{ caller.number_display }}\n"
    "place {{ caller.place }} / label {{ caller.label }} / status {{ status }}\n"
    "alias {{ number.alias }} / did {{ number.did }} / detail {{ detail }}\n"
    "callback {{ voicemail.callback }} {{ voicemail.callback_display }}\n"
    "{{ sms.message }}",
    name="route[0].body_template",
)

#: An `@` a chat service reads as a mention; mail and SMS readers only at a word start.
MENTION = re.compile(r"@[\w&!]")
WORD_START_MENTION = re.compile(r"(?<![\w.+-])@[\w&!]")
#: Invisible characters that survive on purpose: the joiner put after `@`, and the zero-width
#: joiner inside an emoji sequence.
KEPT_INVISIBLE = {WORD_JOINER, "\u200d"}


def payload(kind: EventKind, name: str, number: str, text: str) -> dict[str, Any]:
    """A payload as the API models make it, every free-text field written by a stranger."""
    if kind is EventKind.VOICEMAIL:
        return {"vmid": "1", "calleridname": name, "callerid": number, "callback": text,
                "timestamp": AT, "length": 21, "clipid": "9"}  # fmt: skip
    if kind is EventKind.SMS:
        return {"smsid": "1", "source": number, "destination": name, "message": text,
                "timestamp": AT, "direction": "in"}  # fmt: skip
    seconds = 0 if kind is EventKind.MISSED_CALL else 125
    return {"startdate": AT, "duration": 3, "extensionid": 7, "callednum": text,
            "forwardnum": "0", "callernum": number, "callername": name, "status": text,
            "seconds": seconds}  # fmt: skip


def event(kind: EventKind, name: str, number: str, text: str, ident: int = 1) -> StoredEvent:
    return StoredEvent(
        id=ident,
        kind=kind,
        extensionid=7,
        identity=f"{kind.value}:{ident}",
        occurred_at=AT + ident,
        recorded_at=AT + ident,
        announce=True,
        payload=payload(kind, name, number, text),
    )


def inert(title: str, body: str, kind: TargetKind) -> None:
    """What every rendering must be, whatever a stranger wrote."""
    assert "\n" not in title and len(title) <= 120
    assert len(body) <= 8000
    mention = WORD_START_MENTION if kind in ("email", "sms") else MENTION
    for text in (title, body):
        hidden = {
            c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c != "\n"
        }
        assert hidden <= KEPT_INVISIBLE, sorted(map(hex, map(ord, hidden)))
        assert not re.findall(r"[<>\r]", text)
        assert not mention.findall(text)
        if kind in MARKDOWN_KINDS:
            assert not re.findall(r"[*\[\]`~|]", text)
    assert "=?" not in title  # an RFC 2047 word in a Subject would be decoded by mail readers


@HOSTILE
@given(
    name=TEXT,
    number=TEXT,
    text=TEXT,
    alias=TEXT,
    kind=st.sampled_from(list(EventKind)),
    target=st.sampled_from(KINDS),
    custom=st.booleans(),
)
def test_stranger_text_renders_inert_through_every_template_and_kind(
    name: str,
    number: str,
    text: str,
    alias: str,
    kind: EventKind,
    target: TargetKind,
    custom: bool,
    tally: Counter[str],
) -> None:
    tally["text: event templates x kinds"] += 1
    extension = KnownExtension(extensionid=7, did=number, alias=alias, startdate=0, enddate=0)
    templates = {"title_template": CUSTOM_TITLE, "body_template": CUSTOM_BODY} if custom else {}
    # A route's template that renders raises TemplateRenderError; none may here.
    title, body = render_event(
        event(kind, name, number, text), extension, kind=target, tz=ZONE, audio_note=None,
        **templates,
    )  # fmt: skip
    inert(title, body, target)


@HOSTILE
@given(
    items=st.lists(
        st.tuples(st.sampled_from(list(EventKind)), TEXT, TEXT, TEXT), min_size=1, max_size=5
    ),
    target=st.sampled_from(KINDS),
)
def test_stranger_text_renders_inert_in_the_quiet_hours_digest(
    items: list[tuple[EventKind, str, str, str]], target: TargetKind, tally: Counter[str]
) -> None:
    tally["text: digest x kinds"] += 1
    events = [(event(k, n, num, t, ident=i), None) for i, (k, n, num, t) in enumerate(items, 1)]
    # Each voicemail's transcript is its caller's words too (here: the text field's).
    said = {i: t for i, (_, _, _, t) in enumerate(items, 1)}
    title, body = render_digest(
        events, route="night", kind=target, tz=ZONE, held_until_text="07:00", transcripts=said
    )
    inert(title, body, target)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inbox")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=TEXT, text=TEXT, kind=st.sampled_from(list(EventKind)))
def test_the_folder_target_writes_stranger_text_verbatim_under_its_own_names(
    name: str, text: str, kind: EventKind, inbox: Path, tally: Counter[str]
) -> None:
    tally["text: folder target files"] += 1
    title, body = render_event(
        event(kind, name, name, text), None, kind="file", tz=ZONE, audio_note=None
    )
    before = set(inbox.iterdir())
    result = asyncio.run(send(f"tossd-file://{inbox}", Message(title, body), kind="file"))
    assert result.ok, result.error
    (written,) = set(inbox.iterdir()) - before
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-\d{6}\.txt", written.name)
    assert written.read_text(encoding="utf-8") == f"{title}\n\n{body}\n"


#: A route's own template reading the transcript and the note directly.
TRANSCRIPT_BODY = compile_template(
    "{{ voicemail.transcript_label }}: {{ voicemail.transcript }}\n{{ voicemail.transcript_note }}",
    name="route[0].body_template",
)


@HOSTILE
@given(
    spoken=TEXT,
    why=TEXT,
    name=TEXT,
    target=st.sampled_from(KINDS),
    custom=st.booleans(),
    heard=st.booleans(),
)
def test_a_transcript_is_a_strangers_text_and_renders_inert(
    spoken: str,
    why: str,
    name: str,
    target: TargetKind,
    custom: bool,
    heard: bool,
    tally: Counter[str],
) -> None:
    """The caller chose the words (and an engine's error may quote a server): both inert."""
    tally["text: transcripts x kinds"] += 1
    transcript = (spoken, None) if heard else (None, why)
    title, body = render_event(
        event(EventKind.VOICEMAIL, name, "+12125550134", ""), None, kind=target, tz=ZONE,
        audio_note=None, transcript=transcript,
        **({"body_template": TRANSCRIPT_BODY} if custom else {}),
    )  # fmt: skip
    inert(title, body, target)


@pytest.mark.parametrize("target", KINDS)
@pytest.mark.parametrize(
    ("spoken", "never"),
    [
        # Chat mentions spoken (or typed by a server) into the transcript.
        ("at everyone <!channel> listen @here", ["<!channel>", "@here"]),
        ("ping <@U123ABC> and @everyone now", ["<@U123ABC>", "@everyone"]),
        # A line break would start a new header or fake a second message.
        ("first line\r\nBcc: evil@example.com\nthird", ["\r", "\nBcc"]),
        # Markup and links: HTML, a Slack link, markdown.
        ("<b>bold</b> <http://evil.example|click here>", ["<b>", "<http"]),
        # Markdown only matters where it renders (plain kinds show it as typed, like names).
        ("[call us](http://evil.example) `code`", ["md:](http", "md:`"]),
        # Template syntax stays those characters (it is data, never source).
        ("{{ 7*7 }} {% raw %}", ["49"]),
        # Terminal escapes and bidi overrides.
        ("\x1b[31mred\x1b[0m \u202eevil", ["\x1b", "\u202e"]),
    ],
    ids=["mentions", "user-mention", "crlf", "markup", "markdown-link", "template", "escapes"],
)
def test_hostile_transcripts_are_neutralised_for_each_target_kind(
    spoken: str, never: list[str], target: TargetKind
) -> None:
    title, body = render_event(
        event(EventKind.VOICEMAIL, "Ada", "+12125550134", ""),
        None,
        kind=target,
        tz=ZONE,
        audio_note=None,
        transcript=(spoken, None),
    )
    inert(title, body, target)
    assert "Automatic transcript, may contain errors:" in body
    quoted = body.split("Automatic transcript, may contain errors:\n", 1)[1].split("\n")[0]
    for piece in never:
        if piece.startswith("md:") and target not in MARKDOWN_KINDS:
            continue
        assert piece.removeprefix("md:") not in quoted, (piece, quoted)


def test_a_long_transcript_is_capped_in_the_notification() -> None:
    _, body = render_event(
        event(EventKind.VOICEMAIL, "Ada", "+12125550134", ""), None, kind="slack", tz=ZONE,
        audio_note=None, transcript=("word " * 2000, None),
    )  # fmt: skip
    quoted = body.split("errors:\n", 1)[1].split("\n")[0]
    assert 1000 < len(quoted) <= 1502 and quoted.endswith("…”")
