"""What runs inside the local engine's worker process: the only faster-whisper code.

The model is loaded once per process (`load`, the pool's initializer); `transcribe` is then
called for each voicemail. The MP3 is decoded by faster-whisper's PyAV (no system binary).
Errors cross the process boundary as `WorkerError` with a plain message.
"""

from __future__ import annotations

from typing import Any

#: Whisper's sample rate: faster-whisper decodes every file to it.
SAMPLE_RATE = 16_000

_NO_JIT_HINT = (
    " (the process may not make memory executable: under systemd, set "
    "MemoryDenyWriteExecute=no, see systemd/README.md)"
)
_model: Any = None
_beam_size = 5


class WorkerError(Exception):
    """A failure inside the worker, as text (faster-whisper's own errors may not pickle)."""


class TooLong(WorkerError):
    """The decoded recording is longer than allowed."""


def load(model_dir: str, threads: int, compute_type: str, beam_size: int) -> None:
    """The pool's initializer: load the model once, for every call of this process."""
    global _model, _beam_size
    from faster_whisper import WhisperModel

    _model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads)
    _beam_size = beam_size


def transcribe(
    path: str, language: str | None, prompt: str | None, max_seconds: int
) -> tuple[str, float]:
    """(text, audio seconds) of one MP3."""
    from faster_whisper import decode_audio

    if _model is None:
        raise WorkerError("the model is not loaded")
    try:
        audio = decode_audio(path, sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV's many error classes: all mean "not a decodable file"
        raise WorkerError(f"cannot decode the recording: {type(exc).__name__}") from None
    seconds = len(audio) / SAMPLE_RATE
    if seconds > max_seconds:
        raise TooLong(f"the recording is {seconds:.0f} s long, over {max_seconds} s")
    try:
        segments, _ = _model.transcribe(
            audio,
            language=language,
            initial_prompt=prompt,
            beam_size=_beam_size,
            # Voicemails are short and often end in hiss: the voice detector keeps Whisper
            # from inventing words for silence, and not carrying text across windows keeps
            # one misheard phrase from repeating.
            vad_filter=True,
            condition_on_previous_text=False,
        )
        text = " ".join(segment.text.strip() for segment in segments)
    except Exception as exc:  # CTranslate2 raises RuntimeError and others
        # oneDNN's words when it may not generate code (systemd's MemoryDenyWriteExecute=yes).
        hint = _NO_JIT_HINT if "could not create a primitive" in str(exc) else ""
        raise WorkerError(f"the model failed: {type(exc).__name__}: {exc}{hint}") from None
    return text, seconds
