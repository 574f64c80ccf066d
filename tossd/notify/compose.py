"""A ledger row's message for its target: an event's notification, or a quiet-hours digest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from tossd.domain import EventKind, KnownExtension, StoredEvent, TranscriptState
from tossd.errors import TemplateRenderError
from tossd.notify.attach import AudioLimits, Postpone, digest_recordings, recording
from tossd.notify.fold import without_folded_calls
from tossd.notify.message import Message
from tossd.notify.render import render_digest, render_event
from tossd.notify.routing import Route, Target
from tossd.notify.transcript import LOOK_AGAIN_S, Transcribed, transcript_of
from tossd.store.store import Store

log = structlog.get_logger(__name__)


def event_message(
    store: Store,
    event: StoredEvent,
    extension: KnownExtension | None,
    route: Route,
    target: Target,
    limits: AudioLimits,
) -> Message:
    """The event's notification, its recording attached if it fits and its transcript
    (raises `Postpone` while the recording is being fetched or the transcript made); a
    broken template falls back, logged."""
    attachments, note = recording(store, event, route, target, limits)
    transcript = _transcript(store, event, limits)
    try:
        title, body = render_event(
            event,
            extension,
            kind=target.info.kind,
            tz=route.tz,
            audio_note=note,
            title_template=route.title_template,
            body_template=route.body_template,
            transcript=transcript,
        )
    except TemplateRenderError as exc:
        log.warning("template.failed", route=route.name, error=exc.message)
        title, body = exc.fallback
    return Message(title, body, attachments)


def _transcript(store: Store, event: StoredEvent, limits: AudioLimits) -> Transcribed:
    if event.kind is not EventKind.VOICEMAIL or limits.transcript_wait_s is None:
        return None, None
    audio = store.audio_for(event.id)
    found = transcript_of(
        event,
        store.transcript_for(event.id),
        None if audio is None else audio.fetched_at,
        now=limits.now,
        audio_wait_s=limits.audio_wait_s,
        wait_s=limits.transcript_wait_s,
    )
    if found is None:
        raise Postpone(LOOK_AGAIN_S)
    return found


def digest_message(
    store: Store,
    items: Sequence[tuple[StoredEvent, KnownExtension | None]],
    route: Route,
    target: Target,
    limits: AudioLimits,
    held_until: int | None,
) -> Message:
    """What quiet hours held for one target (or, without `held_until`, a burst of more
    than `[delivery] max_per_cycle`), oldest first, in one message."""
    ordered = sorted(items, key=lambda item: item[0].occurred_at)
    if route.folds_voicemail_calls:
        told = {event.id for event in without_folded_calls([event for event, _ in ordered])}
        ordered = [item for item in ordered if item[0].id in told]
    held = None if held_until is None else datetime.fromtimestamp(held_until, route.tz)
    title, body = render_digest(
        ordered,
        route=route.name,
        kind=target.info.kind,
        tz=route.tz,
        held_until_text=None if held is None else held.strftime("%H:%M"),
        burst=held is None,
        transcripts=_heard(store, [event for event, _ in ordered]),
    )
    events = [event for event, _ in ordered]
    return Message(title, body, digest_recordings(store, events, route, target, limits))


def _heard(store: Store, events: Sequence[StoredEvent]) -> dict[int, str]:
    """Transcripts of the digest's voicemails that are done (a digest waits for none)."""
    ids = [event.id for event in events if event.kind is EventKind.VOICEMAIL]
    found = store.transcripts_for(ids)
    return {i: t.text for i, t in found.items() if t.state is TranscriptState.DONE and t.text}
