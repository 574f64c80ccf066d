"""What a voicemail's notification says of its transcript (pure), the engine's text tidied,
and the `[transcribe]` section's keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tossd.config.transcribe import TranscribeConfig
from tossd.domain import EventKind, StoredEvent, Transcript, TranscriptState
from tossd.errors import ConfigError
from tossd.notify.transcript import Transcribed, transcript_of
from tossd.transcribe.engine import tidy

RECORDED = 1_000
AUDIO_AT = 1_010


def voicemail(kind: EventKind = EventKind.VOICEMAIL) -> StoredEvent:
    return StoredEvent(
        id=1, kind=kind, extensionid=7, identity="vm:1", occurred_at=RECORDED,
        recorded_at=RECORDED, announce=True, payload={"length": 9},
    )  # fmt: skip


def stored(state: TranscriptState, text: str = "", error: str | None = None) -> Transcript:
    return Transcript(1, state, text, "openai", 1, error, 900, AUDIO_AT + 2)


DONE = stored(TranscriptState.DONE, "Call me back")
SILENT = stored(TranscriptState.DONE, "")
RETRYING = stored(TranscriptState.RETRYING, error="HTTP 500")
FAILED = stored(TranscriptState.FAILED, error="HTTP 401")
SKIPPED = stored(TranscriptState.SKIPPED, error="the recording is 900 s long, over 300 s")
WAIT = None


@pytest.mark.parametrize(
    ("found", "audio_at", "now", "wait_s", "expected"),
    [
        # No engine: the notification says nothing of transcripts.
        (None, AUDIO_AT, AUDIO_AT, None, (None, None)),
        # The text, as soon as it is there.
        (DONE, AUDIO_AT, AUDIO_AT + 1, 30, ("Call me back", None)),
        # Nobody spoke: said, not left blank.
        (SILENT, AUDIO_AT, AUDIO_AT + 1, 30, (None, "Transcript: no speech was heard.")),
        # Audio here, nothing yet, within wait_s: wait.
        (None, AUDIO_AT, AUDIO_AT + 29, 30, WAIT),
        # A failed attempt with a retry due, still within wait_s: wait.
        (RETRYING, AUDIO_AT, AUDIO_AT + 10, 30, WAIT),
        # wait_s is over: sent without it, saying why and where it will show.
        (
            None, AUDIO_AT, AUDIO_AT + 30, 30,
            (None, "Transcript unavailable: not ready within 30 s; `tossd events` shows it "
             "once ready."),
        ),
        # ... and the last failure, if there was one.
        (
            RETRYING, AUDIO_AT, AUDIO_AT + 31, 30,
            (None, "Transcript unavailable: not ready within 30 s; the last attempt failed "
             "(HTTP 500); `tossd events` shows it once ready."),
        ),
        # Given up: no waiting for what will not come.
        (FAILED, AUDIO_AT, AUDIO_AT + 1, 30,
         (None, "Transcript unavailable: transcription failed (HTTP 401).")),
        # Too long to transcribe.
        (SKIPPED, AUDIO_AT, AUDIO_AT + 1, 30,
         (None, "Transcript unavailable: the recording is 900 s long, over 300 s.")),
        # No audio yet, within the audio wait (60 s from recording): wait.
        (None, None, RECORDED + 59, 30, WAIT),
        # No audio and the audio wait is over: nothing to transcribe.
        (None, None, RECORDED + 60, 30,
         (None, "Transcript unavailable: the recording could not be fetched.")),
    ],
)  # fmt: skip
def test_what_the_notification_says_of_the_transcript(
    found: Transcript | None,
    audio_at: int | None,
    now: int,
    wait_s: float | None,
    expected: Transcribed | None,
) -> None:
    got = transcript_of(voicemail(), found, audio_at, now=now, audio_wait_s=60, wait_s=wait_s)
    assert got == expected


def test_other_kinds_never_wait_for_a_transcript() -> None:
    got = transcript_of(
        voicemail(EventKind.MISSED_CALL), None, None, now=RECORDED, audio_wait_s=60, wait_s=30
    )
    assert got == (None, None)


@pytest.mark.parametrize(
    ("raw", "tidied"),
    [
        ("[BLANK_AUDIO]", ""),  # whisper.cpp's server on silence
        (" Hello [BLANK_AUDIO]  there ", "Hello there"),
        ("(upbeat music) Call me back.", "Call me back."),
        ("*inaudible* at five", "at five"),
        ("Call 212-555-0134 (my cell).", "Call 212-555-0134."),  # a spoken aside goes too
        ("Room [12] is free", "Room is free"),
        ("Plain words stay.", "Plain words stay."),
    ],
)
def test_sound_markers_are_not_words(raw: str, tidied: str) -> None:
    assert tidy(raw) == tidied


def config(env: dict[str, str] | None = None, **values: object) -> TranscribeConfig:
    return TranscribeConfig.model_validate(values, context={"env": env or {}})


def test_the_key_comes_from_key_then_key_file_then_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-file\n")
    env = {"TOSSD_TRANSCRIBE_KEY": "sk-env"}
    assert config(env, key="sk-inline").bearer() == "sk-inline"
    assert config(env, key_file=str(key_file)).bearer() == "sk-file"
    assert config(env).bearer() == "sk-env"
    assert config().bearer() is None
    assert "sk-inline" not in repr(config(key="sk-inline"))


@pytest.mark.parametrize(
    "values",
    [
        {"engine": "whisper"},
        {"base_url": "ftp://example.com/v1"},
        {"language": "english please"},
        {"wait_s": -1},
        {"max_seconds": 0},
        {"key": "a", "key_file": "/etc/hostname"},
    ],
)
def test_bad_settings_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        config(**values)


def test_defaults_are_off_30_s_and_300_s() -> None:
    default = config()
    assert (default.engine, default.wait_s, default.max_seconds) == ("off", 30.0, 300)
    assert default.base_url == "https://api.openai.com/v1" and default.model == "whisper-1"
    assert config(base_url="http://127.0.0.1:8000/v1/").base_url == "http://127.0.0.1:8000/v1"
    with pytest.raises(ConfigError, match='is "off"'):
        default.require_engine()


def test_a_digest_line_shows_the_start_of_each_voicemails_transcript() -> None:
    from zoneinfo import ZoneInfo

    from tossd.notify.render import render_digest

    long_text = "Please call me back about the invoice " * 5
    _, body = render_digest(
        [(voicemail(), None)],
        route="night",
        kind="slack",
        tz=ZoneInfo("UTC"),
        held_until_text="07:00",
        transcripts={1: long_text},
    )
    (line,) = [line for line in body.splitlines() if "Voicemail" in line]
    preview = ("Please call me back about the invoice " * 3)[:79] + "…"  # 80 characters
    assert line.endswith(f"· 9 s: “{preview}”")


def test_config_check_masks_the_transcribe_key_and_a_password_in_its_url() -> None:
    from tossd.config.model import Config
    from tossd.config.render import render_effective

    config = Config.model_validate(
        {
            "api": {"key": "api-key-1234"},
            "transcribe": {
                "engine": "openai",
                "key": "sk-transcribe-5678",
                "base_url": "http://user:pass-9012@127.0.0.1:8000/v1",
            },
        },
        context={"env": {}},
    )
    shown = render_effective(config)
    assert "[transcribe]" in shown and 'engine = "openai"' in shown
    assert "sk-transcribe-5678" not in shown and "pass-9012" not in shown
