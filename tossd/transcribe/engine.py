"""The one interface every transcription engine offers, and choosing one from the config.

Engines are imported only when chosen: the openai engine loads aiohttp's client, the local
one starts a worker process that alone imports faster-whisper.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tossd.config.transcribe import TranscribeConfig
from tossd.errors import ConfigError

#: Sound labels some servers write for what is not speech (whisper.cpp's `[BLANK_AUDIO]`,
#: Whisper's `(upbeat music)`): not words anyone said, so not part of a transcript.
_MARKER = re.compile(r"\[[A-Za-z0-9 _.,'-]{1,40}\]|\((?:[A-Za-z ,'-]{1,40})\)|\*[A-Za-z ]{1,40}\*")

#: A marker cut from before a full stop leaves a space there.
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,!?;:])")


@dataclass(frozen=True)
class Heard:
    """What an engine heard in one recording, and how long it took."""

    text: str
    took_s: float
    #: The recording's length as the engine decoded it (None: the engine does not say).
    audio_s: float | None = None


class Engine(Protocol):
    """Turns one MP3 into text; raises `TranscribeError` (or `TranscribeUnavailable`)."""

    name: str

    async def transcribe(self, path: Path) -> Heard: ...

    async def aclose(self) -> None: ...


def open_engine(config: TranscribeConfig, *, models_dir: Path) -> Engine:
    """The configured engine; `models_dir` is where the local engine keeps joined weights.
    Raises `ConfigError` when the engine is off, or local without its extra installed."""
    engine = config.require_engine()
    if engine == "openai":
        from tossd.transcribe.openai import OpenAIEngine

        return OpenAIEngine(config)
    if importlib.util.find_spec("faster_whisper") is None:
        # At start, not at the first voicemail: `tossd run` exits 78 saying what to install.
        raise ConfigError(
            'transcribe.engine = "local" needs the transcribe extra: '
            "pip install 'tossd[transcribe]'"
        )
    from tossd.transcribe.local import LocalEngine

    return LocalEngine(config, models_dir=models_dir)


def tidy(text: str) -> str:
    """The engine's text without sound markers, spaces folded (may end up empty)."""
    return _SPACE_BEFORE_STOP.sub(r"\1", " ".join(_MARKER.sub(" ", text).split()))
