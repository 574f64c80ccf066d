"""Text that strangers wrote (caller-ID names and numbers, SMS bodies): made safe to show.

Pure functions. Everything from the API passes through here before it reaches a terminal,
a notification or a template.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories that are never shown: controls, format characters (bidi overrides,
#: zero-width joiners), unassigned, private use, surrogates, line/paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})


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
    clean = " ".join(strip_controls(str(text)).split())
    if len(clean) <= max_len:
        return clean
    return clean[: max(0, max_len - 1)].rstrip() + "…"
