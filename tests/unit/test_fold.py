"""Which call is told by its voicemail (table tests of `tossd.notify.fold`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tossd.domain import EventKind, StoredEvent
from tossd.notify.fold import Fold, fold, without_folded_calls

T = 1_800_000_000


def call(status: str = "voicemail", caller: str = "+12065550111", *, seen: int = T) -> StoredEvent:
    payload = {"startdate": T, "seconds": 40, "callernum": caller, "status": status}
    return StoredEvent(1, EventKind.CALL, 10001, "c", T, seen, True, payload)


def voicemail(at: int = T + 5, caller: str = "+12065550111", event_id: int = 2) -> StoredEvent:
    payload: dict[str, Any] = {"callerid": caller, "timestamp": at}
    return StoredEvent(event_id, EventKind.VOICEMAIL, 10001, "v", at, at, True, payload)


def box(*found: StoredEvent) -> Any:
    def voicemails(extensionid: int, start: int, end: int) -> Sequence[StoredEvent]:
        return [v for v in found if start <= v.occurred_at <= end]

    return voicemails


@pytest.mark.parametrize(
    ("the_call", "found", "now", "verdict"),
    [
        # An answered call is never held.
        (call("answered"), [], T + 50, Fold.SEND),
        # Its voicemail is there (the same number, however written): told by it.
        (call(), [voicemail(caller="12065550111")], T + 50, Fold.FOLDED),
        # A hidden caller ID on either side matches by time alone.
        (call(caller=""), [voicemail()], T + 50, Fold.FOLDED),
        (call(), [voicemail(caller="anonymous")], T + 50, Fold.FOLDED),
        # Another caller's voicemail, or one stamped far from the call, is not its own.
        (call(), [voicemail(caller="+14155550100")], T + 50, Fold.WAIT),
        (call(), [voicemail(at=T + 40 + 121)], T + 50, Fold.WAIT),
        (call(), [voicemail(at=T - 121)], T + 50, Fold.WAIT),
        # No voicemail yet: it waits 60 s (the wait given) after the call ended...
        (call(), [], T + 40 + 59, Fold.WAIT),
        # ...then the call is told (the caller hung up in the greeting).
        (call(), [], T + 40 + 60, Fold.SEND),
        # A call tossd saw late (it was down) waits from when it was seen.
        (call(seen=T + 3600), [], T + 3600 + 59, Fold.WAIT),
    ],
)
def test_the_fold_verdict(
    the_call: StoredEvent, found: list[StoredEvent], now: int, verdict: Fold
) -> None:
    assert fold(the_call, box(*found), now, 60) is verdict


def test_a_digest_drops_the_calls_its_voicemails_tell() -> None:
    other = StoredEvent(3, EventKind.CALL, 10001, "c2", T, T, True, {"status": "voicemail"})
    kept = without_folded_calls([call(), voicemail(), other])
    # `other` has no number and is stamped at T: the voicemail is within its span too.
    assert [e.id for e in kept] == [2]
    lonely = without_folded_calls([call()])
    assert [e.id for e in lonely] == [1]
