"""One stream's fetch for the account or for one number: the API call and its translation."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from tossd.api.client import Client
from tossd.domain import KnownExtension, NewEvent, Stream
from tossd.poll.translate import (
    account_sms_events,
    call_events,
    digits,
    fold_repeats,
    sms_events,
    voicemail_events,
)
from tossd.poll.window import Window

log = structlog.get_logger(__name__)


def owners(extensions: Sequence[KnownExtension]) -> dict[str, int]:
    """Extension ids by their DID's digits, however the provider wrote the number."""
    return {digits(e.did): e.extensionid for e in extensions}


def folded(stream: Stream, events: list[NewEvent]) -> list[NewEvent]:
    """`events` with repeated identities folded, and one line when the reply repeated some."""
    kept = fold_repeats(events)
    if len(kept) < len(events):
        log.warning("poll.repeats_folded", stream=stream.value, folded=len(events) - len(kept))
    return kept


async def fetch_account(
    api: Client, stream: Stream, window: Window, known: Sequence[KnownExtension]
) -> list[NewEvent]:
    """Every number's calls or texts in `window`, one paged query (`known`: every number
    tossd knows, to file records that name only the DID)."""
    since = window.announce_since
    by_did = owners(known)
    if stream is Stream.CALLS:
        records = await api.call_records(startdate=window.start, enddate=window.end)
        # A record without its extension id is filed under the number it called.
        mended = [
            r
            if r.extensionid
            else r.model_copy(update={"extensionid": by_did.get(digits(r.callednum), 0)})
            for r in records
        ]
        return call_events(mended, announce_since=since)
    texts = await api.sms_get(startdate=window.start, enddate=window.end, direction="in")
    return folded(stream, account_sms_events(texts, by_did, announce_since=since))


async def fetch_number(
    api: Client, stream: Stream, ext: KnownExtension, window: Window
) -> list[NewEvent]:
    """One number's calls, voicemail box or texts."""
    since = window.announce_since
    if stream is Stream.CALLS:
        records = await api.call_records(
            startdate=window.start, enddate=window.end, extensionid=ext.extensionid
        )
        # The provider may ignore the filter (its parameter list is damaged): keep ours.
        mine = [r for r in records if r.extensionid in (ext.extensionid, 0)]
        return call_events(
            [r.model_copy(update={"extensionid": ext.extensionid}) for r in mine],
            announce_since=since,
        )
    if stream is Stream.VOICEMAIL:
        voicemails = await api.extension_voicemail_get(extensionid=ext.extensionid)
        return folded(stream, voicemail_events(ext.extensionid, voicemails, announce_since=since))
    texts = await api.sms_get(
        did=ext.did, startdate=window.start, enddate=window.end, direction="in"
    )
    return folded(stream, sms_events(ext.extensionid, texts, announce_since=since))
