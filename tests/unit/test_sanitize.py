"""Unit tests of sanitize: hostile text against every target kind, and properties of any text."""

from __future__ import annotations

import re
import tracemalloc
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tossd.domain import TargetKind
from tossd.text.sanitize import ELLIPSIS, MARKDOWN_KINDS, WORD_JOINER, clean, clean_title
from tossd.text.untrusted import one_line, strip_controls, visible

KINDS: tuple[TargetKind, ...] = tuple(TargetKind)
ADDRESS_KINDS = ("email", "sms")
CAP = 200
ZWJ = "\u200d"
HIDDEN_CATEGORIES = {"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"}
# What the look-alikes are, by name (the characters themselves are easily misread).
LT = "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}"
GT = "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"
STAR = "\N{ASTERISK OPERATOR}"
TILDE = "\N{TILDE OPERATOR}"
TICK = "\N{MODIFIER LETTER GRAVE ACCENT}"
LBR = "\N{FULLWIDTH LEFT SQUARE BRACKET}"
RBR = "\N{FULLWIDTH RIGHT SQUARE BRACKET}"
HASH = "\N{FULLWIDTH NUMBER SIGN}"
BAR = "\N{DIVIDES}"
EQ = "\N{FULLWIDTH EQUALS SIGN}"
DASH = "\N{HYPHEN}"
BSL = "\N{SET MINUS}"
UNDER = "\N{MODIFIER LETTER LOW MACRON}"

#: Every Slack control sequence and Discord mention starts or ends with a raw angle bracket:
#: <!channel>, <!subteam^S1>, <@U1>, <#C1|x>, <http://x|label>, <@1>, <@!1>, <@&1>, <#1>.
SLACK_OR_DISCORD_SEQUENCE = re.compile(r"[<>]")
#: What Discord (and Apprise's Discord ping detection), Mattermost, Teams and Slack's
#: link_names read as a mention: an `@` directly followed by a word, `&` or `!`.
MENTION = re.compile(r"@[\w&!]")
#: In a mailbox or on a phone only a word-start `@` could be a mention; `a@b.c` is an address.
WORD_START_MENTION = re.compile(r"(?<![\w.+-])@[\w&!]")
BROADCAST = re.compile(r"@(?:everyone|here|channel|all)\b", re.IGNORECASE)
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(")
#: Characters that open or close markdown formatting, wherever they are.
MARKDOWN_SYNTAX = re.compile(
    r"[*`~\[\]|\\]"  # emphasis, code, strike, links, spoilers/tables, escapes
    r"|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"  # an underscore not inside an ASCII word
    r"|^[-+0-9. ]*#"  # a heading, also in a list item (Discord's `-#` too)
    r"|^(?:=+|-+)$",  # a setext underline or a rule
    re.MULTILINE,
)

# (input, pieces that must survive in every kind)
HOSTILE: list[tuple[str, tuple[str, ...]]] = [
    ("<!channel> hi", ("channel", "hi")),
    ("<!here>", ("here",)),
    ("<!everyone>", ("everyone",)),
    ("<@U123ABC>", ("U123ABC",)),
    ("<#C1|general>", ("C1", "general")),
    ("<!subteam^S1|@team>", ("subteam^S1", "team")),
    ("@everyone", ("everyone",)),
    ("@here please", ("here please",)),
    ("@channel @all", ("channel", "all")),
    ("<@123456> <@!123456> <@&123456> <#123456>", ("123456",)),
    ("@123456789012345678", ("123456789012345678",)),
    ("\N{FULLWIDTH LESS-THAN SIGN}!here\N{FULLWIDTH GREATER-THAN SIGN}", ("here",)),
    ("\N{FULLWIDTH COMMERCIAL AT}everyone \N{SMALL COMMERCIAL AT}here", ("everyone", "here")),
    ("<http://evil.example|click>", ("evil.example", "click")),
    ("[click](http://evil)", ("click", "(http://evil)")),
    ("![pixel](http://evil/p.png)", ("pixel",)),
    ("*bold* _it_ ~s~ `code`", ("bold", "it", "code")),
    ("```\nfenced\n```", ("fenced",)),
    ("# Heading", ("Heading",)),
    ("||spoiler||", ("spoiler",)),
    ("> quoted", ("quoted",)),
    ("\x1b[31mred", ("31mred",)),
    ("line1\r\nBcc: x@y", ("line1", "Bcc: x")),
    ("Subject: a\rb\nc\x85d\u2028e", ("Subject: a", "b", "e")),
    ("\u202eevil", ("evil",)),
    ("a\u200bb", ("ab",)),
    ("\x00", ()),
    ("\u3164\u3164", ()),
    ("A" * 10_000, ("AAAA",)),
    ("{{ 7*7 }}", ("{{ 7", "7 }}")),
    ("{% for x in y %}{% endfor %}", ("{% for x in y %}",)),
    ("<script>alert(1)</script>", ("script", "alert(1)")),
    ("=?utf-8?b?PHNjcmlwdD4=?=", ("utf-8",)),
    ("王芳", ("王芳",)),
    ("José Núñez", ("José Núñez",)),
    ("Zoë 👋", ("Zoë 👋",)),
    ("Renée O'Connor", ("Renée O'Connor",)),
    ("👩\u200d💻 Ünal Çelik", ("👩\u200d💻 Ünal Çelik",)),
]


def hidden(text: str) -> list[str]:
    """Invisible characters, except the two we put or keep on purpose: a word joiner right
    after `@`, and a zero-width joiner inside an emoji sequence."""
    found = []
    for i, char in enumerate(text):
        if char == "\n":
            continue
        if char == WORD_JOINER and i > 0 and text[i - 1] == "@":
            continue
        if char == ZWJ and 0 < i < len(text) - 1 and _glued(text[i - 1], text[i + 1]):
            continue
        if unicodedata.category(char) in HIDDEN_CATEGORIES or char == "\u3164":
            found.append(char)
    return found


def _glued(before: str, after: str) -> bool:
    pictograph_before = unicodedata.category(before) == "So" or before == "\ufe0f"
    skin_tone = "\U0001f3fb" <= before <= "\U0001f3ff"
    return (pictograph_before or skin_tone) and unicodedata.category(after) == "So"


def mentions(text: str, kind: TargetKind) -> list[str]:
    """Every sequence that `kind`'s receiver (or whatever it forwards to) could act on, also
    after the receiver normalises the text (NFKC turns a full-width at sign into `@`)."""
    found = _pings(text, kind) + _pings(unicodedata.normalize("NFKC", text), kind)
    if kind in MARKDOWN_KINDS:
        found += MARKDOWN_LINK.findall(text) + MARKDOWN_SYNTAX.findall(text)
    return found


def _pings(text: str, kind: TargetKind) -> list[str]:
    mention = WORD_START_MENTION if kind in ADDRESS_KINDS else MENTION
    return SLACK_OR_DISCORD_SEQUENCE.findall(text) + mention.findall(text)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("text", "survivors"), HOSTILE, ids=[repr(t[:24]) for t, _ in HOSTILE])
def test_hostile_text_is_inert_for_every_kind(
    text: str, survivors: tuple[str, ...], kind: TargetKind
) -> None:
    out = clean(text, kind, max_len=CAP)

    assert mentions(out, kind) == []
    assert BROADCAST.findall(out) == []
    assert hidden(out) == []
    assert "\n" not in out and "\r" not in out
    assert len(out) <= CAP
    assert "49" not in out  # template syntax in a value is never evaluated
    for piece in survivors:
        assert piece in out.replace(WORD_JOINER, "")


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("slack", "<!channel> hi", f"{LT}!channel{GT} hi"),
        ("discord", "@everyone", "@\u2060everyone"),
        ("json", "ping <@&123>", f"ping {LT}@\u2060&123{GT}"),
        ("plain", "mail bob@example.com", "mail bob@\u2060example.com"),
        ("email", "mail bob@example.com", "mail bob@example.com"),
        ("sms", "@here mail bob@example.com", "@\u2060here mail bob@example.com"),
        ("email", "*bold* _it_", "*bold* _it_"),
        (
            "slack",
            "*bold* _it_ ~s~ `c`",
            f"{STAR}bold{STAR} {UNDER}it{UNDER} {TILDE}s{TILDE} {TICK}c{TICK}",
        ),
        ("discord", "[click](http://evil)", f"{LBR}click{RBR}(http://evil)"),
        (
            "markdown",
            "see https://x.example/?utm_source=sms",
            "see https://x.example/?utm_source=sms",
        ),
        ("discord", "# Big -# small", f"{HASH} Big -# small"),
        ("discord", "-# small", f"-{HASH} small"),
        ("discord", "1. # big", f"1. {HASH} big"),
        ("discord", "é_b_é snake_case", f"é{UNDER}b{UNDER}é snake_case"),
        ("discord", "||spoiler|| a\\*b", f"{BAR}{BAR}spoiler{BAR}{BAR} a{BSL}{STAR}b"),
        ("email", "=?utf-8?q?x?=", "= ?utf-8?q?x?="),
        ("email", "<b>x</b> & y", f"{LT}b{GT}x{LT}/b{GT} & y"),
        ("sms", "a\tb\u00a0\u00a0c", "a b c"),
        ("plain", "e\u0301", "é"),
    ],
)
def test_clean_examples(kind: TargetKind, text: str, expected: str) -> None:
    assert clean(text, kind, max_len=CAP) == expected


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("plain", "a\r\nb", "a\nb"),
        ("plain", "a\rb\x85c\u2028d\u2029e\x0bf", "a\nb\nc\nd\ne\nf"),
        ("plain", "a\n\n\n\n\n\nb", "a\n\n\nb"),
        ("plain", "\n\n  a  \n\n", "a"),
        ("markdown", "    indented code", "indented code"),
        ("markdown", "title\n===\nrule\n---", f"title\n{EQ}{EQ}{EQ}\nrule\n{DASH}{DASH}{DASH}"),
        ("discord", "ok\n> quote\n# head", f"ok\n{GT} quote\n{HASH} head"),
        ("slack", "line1\r\n<!here>", f"line1\n{LT}!here{GT}"),
    ],
)
def test_multiline_keeps_lines_and_nothing_else(kind: TargetKind, text: str, expected: str) -> None:
    assert clean(text, kind, max_len=CAP, multiline=True) == expected


@pytest.mark.parametrize(
    ("text", "max_len", "expected"),
    [
        ("abcdefgh", 5, "abcd" + ELLIPSIS),
        ("abcde", 5, "abcde"),
        ("abc def", 5, "abc" + ELLIPSIS),
        ("ab@cdef", 4, "ab" + ELLIPSIS),  # no `@` left without its joiner
        ("👩\u200d💻👩\u200d💻", 3, "👩" + ELLIPSIS),  # no dangling joiner
        ("abc", 1, ELLIPSIS),
        ("abc", 0, ""),
        ("", 10, ""),
    ],
)
def test_length_cap(text: str, max_len: int, expected: str) -> None:
    assert clean(text, "plain", max_len=max_len) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ""), (12125550134, "12125550134"), (3.5, "3.5")],
)
def test_non_text_values(value: object, expected: str) -> None:
    assert clean(value, "plain", max_len=CAP) == expected


@pytest.mark.parametrize(
    ("title", "max_len", "expected"),
    [
        (
            "Voicemail from X\r\nBcc: evil@example.com",
            120,
            "Voicemail from X Bcc: evil@example.com",
        ),
        ("Text\x1b[2J from \u202eY\u2028Z", 120, "Text[2J from Y Z"),
        ("a" * 500, 120, "a" * 119 + ELLIPSIS),
        ("  spaced   out  ", 120, "spaced out"),
        # The route owner's own text is theirs: a title template may ping on purpose.
        ("<!here> voicemail", 120, "<!here> voicemail"),
    ],
)
def test_clean_title(title: str, max_len: int, expected: str) -> None:
    for kind in KINDS:
        assert clean_title(title, kind, max_len) == expected


def test_existing_untrusted_helpers_keep_their_behaviour() -> None:
    assert strip_controls("a\u200db\r\nc\x00", keep_newlines=False) == "ab  c"
    assert one_line("a\n b\u202e", 80) == "a b"
    assert visible("😀\u200d😀 a\u200db\u3164c\r\nd", keep_newlines=True) == "😀\u200d😀 abc\nd"


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(),
    kind=st.sampled_from(KINDS),
    max_len=st.integers(min_value=0, max_value=300),
    multiline=st.booleans(),
)
def test_any_text_comes_out_inert(
    text: str, kind: TargetKind, max_len: int, multiline: bool
) -> None:
    out = clean(text, kind, max_len=max_len, multiline=multiline)

    assert len(out) <= max_len
    assert hidden(out) == []
    assert "\r" not in out
    assert multiline or "\n" not in out
    assert mentions(out, kind) == []
    assert clean(out, kind, max_len=max_len, multiline=multiline) == out


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("<>@!&#*_~`[]()|\\-=\n abc1é👋\u200d\u2060")),
    kind=st.sampled_from(KINDS),
)
def test_syntax_heavy_text_comes_out_inert(text: str, kind: TargetKind) -> None:
    out = clean(text, kind, max_len=CAP, multiline=True)

    assert mentions(out, kind) == []
    assert hidden(out) == []


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(),
    kind=st.sampled_from(KINDS),
    max_len=st.integers(min_value=0, max_value=200),
)
def test_any_title_is_one_printable_line(text: str, kind: TargetKind, max_len: int) -> None:
    out = clean_title(text, kind, max_len)

    assert len(out) <= max_len
    assert "\n" not in out and "\r" not in out
    assert hidden(out) == []


#: A megabyte of what sanitising must look at character by character (hidden, joiners, `@`).
MEGABYTE = "a\u200b@b\u202e\n" * (1024 * 1024 // 6)


@pytest.mark.parametrize("multiline", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_a_megabyte_is_cut_before_it_is_sanitised(kind: TargetKind, multiline: bool) -> None:
    """The cap comes first: peak memory follows `max_len`, not the megabyte (a list of a
    million one-character strings alone would be 8 MB)."""
    tracemalloc.start()
    try:
        cleaned = clean(MEGABYTE, kind, max_len=1600, multiline=multiline)
        line = one_line(MEGABYTE, 80)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 256 * 1024
    assert cleaned.endswith(ELLIPSIS)
    assert len(cleaned) <= 1600
    assert len(line) <= 80


@pytest.mark.parametrize(
    "value",
    [
        "a" * 100_000,  # plain text, far over the cap
        "\u200b" * 100_000 + "visible",  # padding of hidden characters: cut with it
    ],
    ids=["plain", "hidden-padding"],
)
def test_a_value_cut_before_sanitising_still_says_it_was_cut(value: str) -> None:
    assert clean(value, TargetKind.JSON, max_len=50).endswith(ELLIPSIS)
