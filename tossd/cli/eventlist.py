"""`tossd events`: stored events as a table for people or JSON lines for scripts (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from wcwidth import wcswidth

from tossd.domain import EventKind, KnownExtension, StoredEvent, Transcript
from tossd.text.untrusted import one_line
from tossd.text.zones import local_moment

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: int) -> int:
    """`--since`: Unix seconds, an ISO 8601 date/time (UTC if no offset), or `30m`/`2h`/`7d`."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    relative = _DURATION.match(text)
    if relative:
        return now - int(relative.group(1)) * _UNIT_S[relative.group(2)]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(
            f"--since {text!r}: expected Unix seconds, an ISO date/time or 30m/2h/7d"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def event_summary(event: StoredEvent, transcript: Transcript | None = None) -> tuple[str, str]:
    """(who, what) for one event, from untrusted payload text made printable."""
    p: Mapping[str, Any] = event.payload
    if event.kind is EventKind.VOICEMAIL:
        who = _who(p.get("calleridname"), p.get("callerid"))
        heard = f": {one_line(transcript.text, 60)}" if transcript and transcript.text else ""
        return who, f"{p.get('length', 0)} s voicemail{heard}"
    if event.kind is EventKind.SMS:
        return _who(None, p.get("source")), one_line(p.get("message", ""), 60)
    who = _who(p.get("callername"), p.get("callernum"))
    if event.kind is EventKind.MISSED_CALL:
        return who, "missed"
    return who, f"{p.get('seconds', 0)} s"


def _who(name: object, number: object) -> str:
    number_text = one_line(number or "unknown", 24)
    name_text = one_line(name or "", 32)
    if not name_text or name_text == number_text:
        return number_text
    return f"{name_text} <{number_text}>"


def render_table(
    events: Iterable[StoredEvent],
    numbers: Mapping[int, str],
    tz: tzinfo | None = None,
    transcripts: Mapping[int, Transcript] | None = None,
) -> str:
    """Aligned columns, by the cells' width on a terminal (a CJK character takes two); each
    time in `tz` (default UTC) with its abbreviation (`EST`, `CET`)."""
    rows = [("WHEN", "KIND", "NUMBER", "FROM", "DETAIL")]
    for event in events:
        moment = local_moment(event.occurred_at, tz or UTC)
        who, what = event_summary(event, (transcripts or {}).get(event.id))
        number = one_line(numbers.get(event.extensionid, str(event.extensionid)), 32)
        rows.append((moment.strftime("%Y-%m-%d %H:%M:%S %Z"), event.kind.value, number, who, what))
    widths = [max(_width(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(_pad(cell, w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _width(cell: str) -> int:
    # -1 for a non-printable character: cells are one_line() text, but count safely anyway.
    width = wcswidth(cell)
    return width if width >= 0 else len(cell)


def _pad(cell: str, width: int) -> str:
    return cell + " " * (width - _width(cell))


def matching_numbers(wanted: str, extensions: Iterable[KnownExtension]) -> list[int]:
    """`--number`: the extension ids whose DID (digits compared, so `+1 (212) 555-0100`
    finds 2125550100), alias (case aside) or extension id is `wanted`."""
    text = wanted.strip()
    digits = re.sub(r"\D", "", text)
    found = []
    for ext in extensions:
        did = re.sub(r"\D", "", ext.did)
        same_did = bool(digits) and bool(did) and (did == digits or _national(did, digits))
        if same_did or ext.alias.casefold() == text.casefold() or str(ext.extensionid) == text:
            found.append(ext.extensionid)
    return found


def _national(did: str, digits: str) -> bool:
    """The same number with and without a country code (11 digits vs. the last 10)."""
    return min(len(did), len(digits)) >= 10 and did[-10:] == digits[-10:]


def matches(event: StoredEvent, transcript: Transcript | None, word: str) -> bool:
    """`--grep WORD`: the word (case aside) in any payload text or in the transcript."""
    wanted = word.casefold()
    texts = [str(value) for value in event.payload.values() if isinstance(value, str | int)]
    if transcript is not None:
        texts.append(transcript.text)
    return any(wanted in text.casefold() for text in texts)


def transcript_json(transcript: Transcript | None) -> dict[str, Any] | None:
    if transcript is None:
        return None
    return {
        "state": transcript.state.value,
        "text": transcript.text,
        "engine": transcript.engine,
        "error": transcript.error,
        "attempts": transcript.attempts,
        "took_ms": transcript.took_ms,
    }


def render_json_lines(
    events: Iterable[StoredEvent], transcripts: Mapping[int, Transcript] | None = None
) -> str:
    """One JSON object per line (jq-friendly), ASCII-escaped so no raw control character or
    bidi override reaches a terminal; the payload is as the API sent it. Voicemails carry
    their `transcript` (null until there is one)."""
    found = transcripts or {}
    return "".join(
        json.dumps(
            {
                "id": e.id,
                "kind": e.kind.value,
                "extensionid": e.extensionid,
                "identity": e.identity,
                "occurred_at": e.occurred_at,
                "recorded_at": e.recorded_at,
                "announce": e.announce,
                "payload": dict(e.payload),
                **(
                    {"transcript": transcript_json(found.get(e.id))}
                    if e.kind is EventKind.VOICEMAIL
                    else {}
                ),
            },
        )
        + "\n"
        for e in events
    )
