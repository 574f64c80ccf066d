"""Which voicemail recordings go with a notification, and the sentence that says so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tossd.domain import MIB, EventKind, StoredEvent
from tossd.notify.message import Attachment, encoded_size
from tossd.notify.routing import Route, Target
from tossd.store.records import AudioFile
from tossd.store.store import Store


class Postpone(Exception):
    """The voicemail's audio is still being fetched: try this notification again shortly."""


@dataclass(frozen=True)
class AudioLimits:
    now: int
    audio_wait_s: float
    max_attachment_bytes: int


def _cap(target: Target, limits: AudioLimits) -> int:
    return min(target.info.attachment_cap_bytes, limits.max_attachment_bytes)


def recording(
    store: Store, event: StoredEvent, route: Route, target: Target, limits: AudioLimits
) -> tuple[tuple[Attachment, ...], str | None]:
    """The recording to attach, and the sentence that says what happened to it.

    Never a silent drop: no files on this target, over its limit, or not downloadable are
    each said in the text. Raises Postpone while the download may still succeed.
    """
    if event.kind is not EventKind.VOICEMAIL or not route.attach_audio:
        return (), None
    audio = store.audio_for(event.id)
    if audio is None:
        if limits.now - event.recorded_at < limits.audio_wait_s:
            raise Postpone
        return (), "Recording not attached: it could not be downloaded from Tossable Digits."
    if not target.info.supports_attachments:
        return (), f"Recording not attached: {target.info.scheme} targets do not carry files."
    cap = _cap(target, limits)
    if encoded_size(audio.size) > cap:
        return (), f"Recording not attached: it is over this target's {cap / MIB:.0f} MB limit."
    return (
        _attachment(event, audio, route),
    ), f"Recording attached ({max(1, audio.size // 1024)} KB)."


def digest_recordings(
    store: Store, events: Sequence[StoredEvent], route: Route, target: Target, limits: AudioLimits
) -> tuple[Attachment, ...]:
    """Recordings of held voicemails, as many as fit under the target's cap."""
    if not route.attach_audio or not target.info.supports_attachments:
        return ()
    chosen: list[Attachment] = []
    total = 0
    for event in events:
        audio = store.audio_for(event.id) if event.kind is EventKind.VOICEMAIL else None
        if audio is None or total + encoded_size(audio.size) > _cap(target, limits):
            continue
        total += encoded_size(audio.size)
        chosen.append(_attachment(event, audio, route))
    return tuple(chosen)


def _attachment(event: StoredEvent, audio: AudioFile, route: Route) -> Attachment:
    """The MP3 under a name we make from the local time (never from API text)."""
    stamp = datetime.fromtimestamp(event.occurred_at, route.tz)
    return Attachment(audio.path, f"voicemail-{stamp:%Y%m%d-%H%M%S}.mp3", audio.size)
