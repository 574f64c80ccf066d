"""What a voicemail's notification says of its transcript: the text, or why there is none.

Pure. The notification waits for the transcript (compose raises `Postpone`) at most
`transcript_wait_s` after the audio arrived, then goes without it and says why; a
transcript that comes later is still stored and shown by `tossd events`. The text is
untrusted (the caller chose the words): cleaned for the target kind like a caller's name,
and capped.
"""

from __future__ import annotations

from typing import Any

from tossd.domain import EventKind, StoredEvent, TargetKind, Transcript, TranscriptState
from tossd.text.sanitize import clean

#: About two minutes of speech; the whole text stays in the store (`tossd events`).
TRANSCRIPT_LEN = 1500
NOTE_LEN = 240
#: A notification waiting for its transcript looks again this soon (the transcriber also
#: starts a delivery pass as soon as a transcript is stored).
LOOK_AGAIN_S = 1
Transcribed = tuple[str | None, str | None]
_LATER = "`tossd events` shows it once ready"


def transcript_of(
    event: StoredEvent,
    found: Transcript | None,
    audio_at: int | None,
    *,
    now: int,
    audio_wait_s: float,
    wait_s: float | None,
) -> Transcribed | None:
    """(text, None), or (None, why there is none), or (None, None) without an engine
    (`wait_s` None); None while the transcript may still come in time (wait).

    `audio_at` is when the voicemail's audio was stored (None: not yet, or never)."""
    if event.kind is not EventKind.VOICEMAIL or wait_s is None:
        return None, None
    if found is not None and found.state is TranscriptState.DONE:
        return (found.text, None) if found.text else (None, "Transcript: no speech was heard.")
    if found is not None and found.state is TranscriptState.SKIPPED:
        return None, f"Transcript unavailable: {found.error}."
    if found is not None and found.state is TranscriptState.FAILED:
        return None, f"Transcript unavailable: transcription failed ({found.error})."
    if audio_at is None:
        if now - event.recorded_at < audio_wait_s:
            return None
        return None, "Transcript unavailable: the recording could not be fetched."
    if now - audio_at < wait_s:
        return None
    why = f"; the last attempt failed ({found.error})" if found is not None else ""
    return None, f"Transcript unavailable: not ready within {wait_s:g} s{why}; {_LATER}."


def transcript_values(transcript: Transcribed, kind: TargetKind) -> dict[str, Any]:
    """`voicemail.transcript` and `voicemail.transcript_note`, cleaned for `kind`."""
    text, note = transcript
    return {
        "transcript": clean(text, kind, max_len=TRANSCRIPT_LEN),
        "transcript_label": "Automatic transcript, may contain errors",
        "transcript_note": clean(note, kind, max_len=NOTE_LEN),
    }
