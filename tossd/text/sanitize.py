"""Untrusted text (caller names and numbers, SMS bodies) made inert for one kind of target."""

from __future__ import annotations

import re
import unicodedata

from tossd.domain import TargetKind
from tossd.text.untrusted import ELLIPSIS, bounded, visible

#: Invisible and unbreakable: after an `@` it splits `@everyone` for every parser without
#: changing what people see, and, unlike U+200B, it adds no line-break opportunity.
WORD_JOINER = "\u2060"
#: Targets that render markdown (Slack mrkdwn, Discord, other markdown services).
MARKDOWN_KINDS = frozenset({TargetKind.SLACK, TargetKind.DISCORD, TargetKind.MARKDOWN})
#: Targets read by people only (a mailbox, a phone): nothing there turns `bob@example.com`
#: into a mention, and a hidden character inside an address would break copying it.
_ADDRESS_KINDS: frozenset[TargetKind] = frozenset({TargetKind.EMAIL, TargetKind.SMS})
_MAX_BLANK_LINES = 2

#: Full-width and small forms first become ASCII, so that a receiver that applies NFKC
#: cannot turn a full-width `<!here>` back into a mention after we looked at it.
_FOLD = str.maketrans(
    {
        "\N{FULLWIDTH LESS-THAN SIGN}": "<",
        "\N{SMALL LESS-THAN SIGN}": "<",
        "\N{FULLWIDTH GREATER-THAN SIGN}": ">",
        "\N{SMALL GREATER-THAN SIGN}": ">",
        "\N{FULLWIDTH COMMERCIAL AT}": "@",
        "\N{SMALL COMMERCIAL AT}": "@",
    }
)
#: Every Slack control sequence (`<!here>`, `<@U1>`, `<#C1>`, `<http://x|label>`), Discord
#: mention (`<@1>`, `<@&1>`, `<#1>`, `<t:1>`), HTML tag and markdown quote needs a raw `<` or
#: `>`; look-alikes keep the text readable and leave none. Used for every kind: a json or
#: file receiver may forward the text to Slack, and email never needs them raw.
_ANGLES = str.maketrans(
    {
        "<": "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}",
        ">": "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}",
    }
)
#: Apprise's Discord plugin turns any `@word` or `@123` into an allowed mention, so every `@`
#: before a non-space gets the joiner; at the end of a value too, since a template may glue
#: more text on.
_AT = re.compile(r"@(?!\s)")
_JOINED_AT = "@" + WORD_JOINER
_AT_WORD_START = re.compile(r"(?<![\w.+-])@(?!\s)")
#: An RFC 2047 encoded word (`=?utf-8?b?...?=`) in a Subject would be decoded by mail
#: readers and show text we never saw.
_ENCODED_WORD = "=?"
#: Markdown punctuation becomes look-alikes with no compatibility decomposition, not
#: backslash escapes: Slack mrkdwn has no escapes, and Apprise translates markdown between
#: dialects, so a backslash may be shown, doubled or consumed on the way.
_MARKDOWN = str.maketrans(
    {
        "*": "\N{ASTERISK OPERATOR}",
        "~": "\N{TILDE OPERATOR}",
        "`": "\N{MODIFIER LETTER GRAVE ACCENT}",
        "[": "\N{FULLWIDTH LEFT SQUARE BRACKET}",
        "]": "\N{FULLWIDTH RIGHT SQUARE BRACKET}",
        "|": "\N{DIVIDES}",
        "\\": "\N{SET MINUS}",
    }
)
#: `_` between ASCII letters or digits (`utm_source`, `snake_case`) is never emphasis in
#: CommonMark, Slack or Discord, and URLs keep working; any other `_` is replaced. ASCII
#: only: Discord's parser sees a word boundary between `é` and `_`.
_LOOSE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_UNDERSCORE = "\N{MODIFIER LETTER LOW MACRON}"
#: `#` opening a line, or a list item, is a heading (Discord's `-#` too); elsewhere it is
#: just a number sign.
_HEADING = re.compile(r"(?m)^([-+0-9. ]*)#")
_HASH = "\N{FULLWIDTH NUMBER SIGN}"
#: A line of only `=` or `-` turns the line above into a heading (setext) or draws a rule.
_RULE_LINE = re.compile(r"(?m)^(?:=+|-+)$")
_RULE = str.maketrans({"-": "\N{HYPHEN}", "=": "\N{FULLWIDTH EQUALS SIGN}"})


def clean(text: object, kind: TargetKind, *, max_len: int, multiline: bool = False) -> str:
    """Text from a stranger, safe to place in a notification for a target of `kind`.

    Printable only, one line unless `multiline` (then at most two blank lines in a row), no
    sequence the target reads as a mention, link or formatting, at most `max_len` characters.
    Idempotent, so cleaning a cleaned value changes nothing.
    """
    raw = bounded(text, max_len)  # first: all that follows is O(max_len)
    shown = unicodedata.normalize("NFC", visible(raw.translate(_FOLD), keep_newlines=multiline))
    folded = _fold_lines(shown) if multiline else " ".join(shown.split())
    # Markdown look-alikes replace one character each, so they come after the cap: a cut
    # cannot then leave a `_` that the next look would judge differently.
    capped = _cap(_neutralise_mentions(folded, kind), max_len)
    return _neutralise_markdown(capped) if kind in MARKDOWN_KINDS else capped


def provider_text(text: object, max_len: int = 300) -> str:
    """The provider's own words (a `status:false` message), safe wherever they go: a
    self-alert reaches every target at once and the CLI prints to a terminal, so the
    strictest cleaning (a markdown target's), on one line. Capped first: the cost stays
    bounded whatever the provider sends."""
    raw = "" if text is None else str(text)
    return clean(raw[: max_len * 4], TargetKind.MARKDOWN, max_len=max_len)


def clean_title(text: str, kind: TargetKind, max_len: int = 120) -> str:
    """The final title (our template text and cleaned values): one line, printable, capped.

    Titles become email Subject headers, so no CR/LF survives. Mentions are not touched
    here: the values in a title were cleaned already, and what remains is the route owner's
    own template text. `kind` is accepted so callers treat titles like values; every kind
    gets the same rule today.
    """
    del kind
    text = bounded(text, max_len)
    # The joiners `clean` put after `@` are invisible too, and must survive.
    shown = _JOINED_AT.join(visible(piece) for piece in text.split(_JOINED_AT))
    return _cap(" ".join(unicodedata.normalize("NFC", shown).split()), max_len)


def _fold_lines(text: str) -> str:
    """Spaces folded in each line (no indented code blocks), runs of blank lines shortened."""
    kept: list[str] = []
    blanks = 0
    for line in text.split("\n"):
        folded = " ".join(line.split())
        blanks = 0 if folded else blanks + 1
        if blanks <= _MAX_BLANK_LINES:
            kept.append(folded)
    return "\n".join(kept).strip("\n")


def _neutralise_mentions(text: str, kind: TargetKind) -> str:
    at = _AT_WORD_START if kind in _ADDRESS_KINDS else _AT
    text = at.sub(_JOINED_AT, text.translate(_ANGLES))
    return text.replace(_ENCODED_WORD, "= ?")


def _neutralise_markdown(text: str) -> str:
    text = _LOOSE_UNDERSCORE.sub(_UNDERSCORE, text.translate(_MARKDOWN))
    text = _HEADING.sub(lambda m: m.group(1) + _HASH, text)
    return _RULE_LINE.sub(lambda m: m.group().translate(_RULE), text)


def _cap(text: str, max_len: int) -> str:
    if len(text) <= max_len:
        return text
    if max_len < 1:
        return ""
    # A cut may leave a joiner with nothing to join, or an `@` whose joiner was cut off.
    return text[: max_len - 1].rstrip(" \n\u200d@" + WORD_JOINER) + ELLIPSIS
