"""One notification per voicemail call: on a route taking both `call` and `voicemail`, a call
that reached voicemail is told once, as the voicemail (with its audio).

The call record and its voicemail are published seconds apart, in either order, and a caller
who hangs up during the greeting leaves a call "to voicemail" with no voicemail at all. So the
call's row waits for its voicemail (up to `[delivery] audio_wait_s` after the call ended, or
after tossd saw it): found, the row is `folded`; not found in time, the call is announced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from tossd.domain import EventKind, StoredEvent
from tossd.store.ledger import Ledger
from tossd.text.untrusted import bounded

#: A voicemail belongs to a call if it is stamped this close to the call's span (clocks of
#: the call record and the voicemail box are not the same clock).
SLACK_S = 120


class Fold(Enum):
    """What to do with the row of a call on a folding route."""

    SEND = "send"  # not a voicemail call, or its voicemail never came: announce the call
    WAIT = "wait"  # its voicemail may still come
    FOLDED = "folded"  # its voicemail is there: that one tells it


def went_to_voicemail(event: StoredEvent) -> bool:
    status = bounded(event.payload.get("status", ""), 10)
    return event.kind is EventKind.CALL and status.lower() == "voicemail"


def _digits(value: Any) -> str:
    return "".join(c for c in bounded(value or "", 10) if c.isdigit())[-10:]


def is_its_voicemail(call: StoredEvent, voicemail: StoredEvent) -> bool:
    """Same number, stamped within the call's span; a hidden caller ID matches by time."""
    start = int(call.payload.get("startdate", call.occurred_at))
    end = start + int(call.payload.get("seconds", 0) or 0)
    if not start - SLACK_S <= voicemail.occurred_at <= end + SLACK_S:
        return False
    caller = _digits(call.payload.get("callernum"))
    left_by = _digits(voicemail.payload.get("callerid"))
    return not caller or not left_by or caller == left_by


def fold(
    call: StoredEvent,
    voicemails: Callable[[int, int, int], Sequence[StoredEvent]],
    now: int,
    wait_s: float,
) -> Fold:
    """The verdict for a call's row; `voicemails(extensionid, start, end)` reads the store."""
    if not went_to_voicemail(call):
        return Fold.SEND
    start = call.occurred_at
    end = start + int(call.payload.get("seconds", 0) or 0)
    found = voicemails(call.extensionid, start - SLACK_S, end + SLACK_S)
    if any(is_its_voicemail(call, voicemail) for voicemail in found):
        return Fold.FOLDED
    return Fold.WAIT if now < max(end, call.recorded_at) + wait_s else Fold.SEND


def without_folded_calls(events: Sequence[StoredEvent]) -> list[StoredEvent]:
    """A digest's events without the calls whose voicemail is in it too."""
    voicemails = [e for e in events if e.kind is EventKind.VOICEMAIL]
    return [
        event
        for event in events
        if not (went_to_voicemail(event) and any(is_its_voicemail(event, v) for v in voicemails))
    ]


def fold_row(
    ledger: Ledger, row_id: int, call: StoredEvent, now: int, wait: tuple[float, int], owner: str
) -> Fold:
    """`fold`'s verdict for one call's row, written to the ledger: folded, or looked at again
    `wait[1]` seconds later while its voicemail may still come (for `wait[0]` seconds)."""
    audio_wait_s, postpone_s = wait
    verdict = fold(call, ledger.voicemails_between, now, audio_wait_s)
    if verdict is Fold.FOLDED:
        ledger.mark_folded([row_id], owner=owner)
    elif verdict is Fold.WAIT:
        ledger.postpone([row_id], now + postpone_s, owner=owner)
    return verdict
