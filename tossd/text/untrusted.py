"""Text that strangers wrote (caller-ID names and numbers, SMS bodies): made safe to show.

Pure functions. Everything from the API passes through here before it reaches a terminal,
a notification or a template.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories that are never shown: controls, format characters (bidi overrides,
#: zero-width joiners), unassigned, private use, surrogates, line/paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})
#: How much raw text is looked at per character kept: hidden characters that are dropped
#: may pad a value, but a 1 MB caller name is cut here, before any per-character work.
RAW_PER_KEPT = 4
RAW_SLACK = 64
ELLIPSIS = "…"


def bounded(text: object, max_len: int) -> str:
    """`text` as a string of at most a few times `max_len` characters, cut before anything
    else looks at it: every later step is then O(max_len), whatever a stranger sent.

    A cut value ends with an ellipsis, so the reader still sees that something was left out
    even when the hidden characters that padded it are dropped later.
    """
    raw = "" if text is None else text if isinstance(text, str) else str(text)
    limit = max(0, max_len) * RAW_PER_KEPT + RAW_SLACK
    return raw if len(raw) <= limit else raw[:limit] + ELLIPSIS


def strip_controls(text: str, *, keep_newlines: bool = False) -> str:
    """Remove control and invisible formatting characters; tabs become spaces."""
    out = []
    for char in text:
        if char == "\n" and keep_newlines:
            out.append(char)
        elif char in "\t\r\n":
            out.append(" ")
        elif unicodedata.category(char) not in _HIDDEN_CATEGORIES:
            out.append(char)
    return "".join(out)


def one_line(text: object, max_len: int = 80) -> str:
    """Printable, single line, runs of spaces folded, at most `max_len` characters."""
    clean = " ".join(strip_controls(bounded(text, max_len)).split())
    if len(clean) <= max_len:
        return clean
    return clean[: max(0, max_len - 1)].rstrip() + ELLIPSIS


#: Every way text can break a line; each counts as one newline.
_LINE_BREAKS = str.maketrans(dict.fromkeys("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", "\n"))
#: Letters and marks that draw nothing: used to make a caller name look blank or to split a
#: word so filters miss it (Hangul fillers, the combining grapheme joiner, Khmer inherent vowels).
_BLANK_LOOKING = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
_ZWJ = "\u200d"
_SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """Like `strip_controls`, and stricter: every line break counts (CR LF, CR, NEL, U+2028)
    and blank-looking letters go; a zero-width joiner survives between two pictographs only,
    where it glues an emoji sequence (👩‍💻) and can split nothing a parser looks for."""
    text = text.replace("\r\n", "\n").translate(_LINE_BREAKS)
    return "".join(_shown(text, i, keep_newlines) for i in range(len(text)))


def _shown(text: str, i: int, keep_newlines: bool) -> str:
    char = text[i]
    if char == "\n":
        return "\n" if keep_newlines else " "
    if char == _ZWJ:
        return char if _joins_emoji(text, i) else ""
    if char in _BLANK_LOOKING:
        return ""
    return strip_controls(char)


def _joins_emoji(text: str, i: int) -> bool:
    if i == 0 or i + 1 >= len(text):
        return False
    before, after = text[i - 1], text[i + 1]
    glued = before in _SKIN_TONES or before == "\ufe0f" or unicodedata.category(before) == "So"
    return glued and unicodedata.category(after) == "So"
