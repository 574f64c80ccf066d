"""Which voicemail recordings go with a notification, and the sentence that says so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tossd.domain import MIB, EventKind, StoredEvent
from tossd.notify.message import Attachment, encoded_size
from tossd.notify.routing import Route, Target
from tossd.store.records import AudioFile
from tossd.store.store import Store
from tossd.text.zones import local_moment


class Postpone(Exception):
    """The voicemail's audio (or transcript) is still to come: try again in `retry_s`."""

    def __init__(self, retry_s: int = 5) -> None:
        super().__init__()
        self.retry_s = retry_s


@dataclass(frozen=True)
class AudioLimits:
    now: int
    audio_wait_s: float
    max_attachment_bytes: int
    #: How long a voicemail waits for its transcript once its audio is here; None: no engine.
    transcript_wait_s: float | None = None


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
        if store.audio_failures(event.id):
            return (), "Recording not attached: it could not be downloaded from Tossable Digits."
        # No download failed: saving it here did (a full disk, say), never the provider's fault.
        return (), "Recording not attached: tossd could not save it on this server (see its log)."
    if not target.info.supports_attachments:
        return (), f"Recording not attached: {target.info.scheme} targets do not carry files."
    if not is_mp3(audio.path):
        return (), "Recording not attached: Tossable Digits sent a file that is not an MP3."
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
        if not is_mp3(audio.path):
            continue
        total += encoded_size(audio.size)
        chosen.append(_attachment(event, audio, route))
    return tuple(chosen)


def _attachment(event: StoredEvent, audio: AudioFile, route: Route) -> Attachment:
    """The MP3 under a name we make from the local time (never from API text)."""
    stamp = local_moment(event.occurred_at, route.tz)
    return Attachment(audio.path, f"voicemail-{stamp:%Y%m%d-%H%M%S}.mp3", audio.size)


def is_mp3(path: Path) -> bool:
    """Whether the file starts as an MP3 does (an ID3 tag, or an MPEG audio frame's sync
    bits), so that nothing else is ever attached as `audio/mpeg`; unreadable is False."""
    try:
        with path.open("rb") as file:
            head = file.read(3)
    except OSError:
        return False
    return head == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
