"""What Tossable Digits itself says about a report's period: numbers, calls, voicemail, texts.

A report is built from the provider's own records, never from what tossd happened to poll,
so it is right on a fresh install, for any past period and after downtime. Per-number
failures (one callSummary, one voicemail box) leave that figure out and the report goes on;
an account without texts leaves texts to the store. A failing extension list or call
listing fails the report: without them there is nothing true to say.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from tossd.api.client import Client
from tossd.api.models import CallRecord, CallSummary, Extension, Sms, Voicemail
from tossd.errors import ApiError, ApiMissingParameter
from tossd.notify.routing import selects
from tossd.poll.translate import digits, listed_extension

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ProviderPeriod:
    """The provider's records of [start, end) for the numbers live during it.

    `summaries` and `voicemails` hold None for a number whose query failed; `texts` is None
    when the account has no texts or the listing failed.
    """

    start: int
    end: int
    extensions: tuple[Extension, ...]
    calls: tuple[CallRecord, ...]
    summaries: dict[int, CallSummary | None]
    voicemails: dict[int, tuple[Voicemail, ...] | None]
    texts: tuple[Sms, ...] | None


def live_between(extensions: Sequence[Extension], start: int, end: int) -> list[Extension]:
    """The numbers active at some moment of [start, end): ended ones while they were live."""
    return sorted(
        (e for e in extensions if e.startdate < end and (e.enddate == 0 or e.enddate > start)),
        key=lambda e: e.extensionid,
    )


async def fetch_period(api: Client, wanted: frozenset[str], start: int, end: int) -> ProviderPeriod:
    """Ask the provider about [start, end) for the numbers `wanted` selects (empty: all);
    the selection rule is the routes' own (`selects`)."""
    listed = await api.extension_list()
    numbers = [
        e for e in live_between(listed, start, end) if selects(wanted, listed_extension(e).known())
    ]
    last = end - 1  # the API's windows include both ends
    ids = {e.extensionid for e in numbers}
    fetched, texts = await asyncio.gather(
        _calls(api, numbers, start, last), _texts(api, numbers, start, last)
    )
    calls = [c for c in fetched if c.extensionid in ids and start <= c.startdate < end]
    # Only numbers with calls have a summary to ask for, and only those with a call that
    # something answered can have a voicemail (the API's own rule): on an account of
    # thousands of quiet numbers, the report costs what its busy ones do.
    called = {c.extensionid for c in calls}
    answered = {c.extensionid for c in calls if c.seconds > 0}
    summaries, boxes = await asyncio.gather(
        asyncio.gather(*(_summary(api, e, start, last, e.extensionid in called) for e in numbers)),
        asyncio.gather(*(_box(api, e, e.extensionid in answered) for e in numbers)),
    )
    return ProviderPeriod(
        start,
        end,
        tuple(numbers),
        tuple(calls),
        {e.extensionid: s for e, s in zip(numbers, summaries, strict=True)},
        {
            e.extensionid: None
            if box is None
            else tuple(v for v in box if start <= v.timestamp < end)
            for e, box in zip(numbers, boxes, strict=True)
        },
        None if texts is None else tuple(t for t in texts if start <= t.timestamp < end),
    )


async def _calls(
    api: Client, numbers: Sequence[Extension], start: int, last: int
) -> list[CallRecord]:
    """Every call of the account (paged); per number when the provider wants an extension."""
    if not numbers:
        return []
    try:
        return await api.call_records(startdate=start, enddate=last)
    except ApiMissingParameter:
        pass
    pages = await asyncio.gather(
        *(
            api.call_records(startdate=start, enddate=last, extensionid=e.extensionid)
            for e in numbers
        )
    )
    return [record for page in pages for record in page]


async def _summary(
    api: Client, ext: Extension, start: int, last: int, called: bool
) -> CallSummary | None:
    """callSummary of one number; None, logged, when it fails: the report goes out anyway."""
    if not called:
        return CallSummary()
    try:
        return await api.call_summary(startdate=start, enddate=last, extensionid=ext.extensionid)
    except ApiError as exc:
        _failed("report.summary_failed", ext, exc)
        return None


async def _box(api: Client, ext: Extension, answered: bool) -> list[Voicemail] | None:
    """The number's voicemail box as it is now (deleted messages are gone from it)."""
    if not answered:
        return []
    try:
        return await api.extension_voicemail_get(extensionid=ext.extensionid)
    except ApiError as exc:
        _failed("report.voicemail_failed", ext, exc)
        return None


async def _texts(
    api: Client, numbers: Sequence[Extension], start: int, last: int
) -> list[Sms] | None:
    """Texts of the account; per DID when the provider wants one; None without texts."""
    if not numbers:
        return []
    try:
        try:
            return await api.sms_get(startdate=start, enddate=last)
        except ApiMissingParameter:
            dids = sorted({e.did for e in numbers if digits(e.did)})
            pages = await asyncio.gather(
                *(api.sms_get(startdate=start, enddate=last, did=did) for did in dids)
            )
            return [text for page in pages for text in page]
    except ApiError as exc:
        log.warning("report.texts_unavailable", error=exc.message, error_type=type(exc).__name__)
        return None


def _failed(event: str, ext: Extension, exc: ApiError) -> None:
    log.warning(
        event, extensionid=ext.extensionid, error=exc.message, error_type=type(exc).__name__
    )
