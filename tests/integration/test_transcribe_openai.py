"""The openai engine against a fake OpenAI-compatible server on loopback: the multipart form
it sends, and each way a server can fail (the key in none of the errors)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.whisper import FakeWhisper, error_body, serve_whisper

from tossd.config.transcribe import TranscribeConfig
from tossd.errors import TranscribeError, TranscribeUnavailable
from tossd.transcribe.openai import OpenAIEngine

KEY = "sk-test-0123456789abcdef"
CLIPS = Path(__file__).resolve().parents[2] / "tossd" / "sandbox" / "clips"


@pytest.fixture
async def whisper() -> AsyncIterator[FakeWhisper]:
    async with serve_whisper(FakeWhisper()) as server:
        yield server


def engine_for(server: FakeWhisper, **settings: Any) -> OpenAIEngine:
    config = TranscribeConfig.model_validate(
        {"engine": "openai", "base_url": server.base_url, **settings},
        context={"env": {"TOSSD_TRANSCRIBE_KEY": KEY}},
    )
    return OpenAIEngine(config)


async def test_the_form_carries_the_file_model_language_prompt_and_json_format(
    whisper: FakeWhisper,
) -> None:
    clip = CLIPS / "late.mp3"
    whisper.text = "  Hey, it's Tom. [BLANK_AUDIO] I'm running late. (upbeat music) "
    engine = engine_for(whisper, model="whisper-large-v3", language="en", prompt="Tom, Maria")
    try:
        heard = await engine.transcribe(clip)
    finally:
        await engine.aclose()
    assert heard.text == "Hey, it's Tom. I'm running late."
    (upload,) = whisper.uploads
    assert whisper.problems == []
    assert upload.audio == clip.read_bytes()
    assert upload.filename == "late.mp3" and upload.content_type == "audio/mpeg"
    assert upload.fields == {
        "model": "whisper-large-v3",
        "language": "en",
        "prompt": "Tom, Maria",
        "response_format": "json",
    }
    assert upload.authorization == f"Bearer {KEY}"


async def test_without_a_key_or_language_those_are_left_out(whisper: FakeWhisper) -> None:
    config = TranscribeConfig.model_validate(
        {"engine": "openai", "base_url": whisper.base_url}, context={"env": {}}
    )
    engine = OpenAIEngine(config)
    try:
        await engine.transcribe(CLIPS / "bank.mp3")
    finally:
        await engine.aclose()
    (upload,) = whisper.uploads
    assert upload.authorization is None
    assert upload.fields == {"model": "whisper-1", "response_format": "json"}


@pytest.mark.parametrize(
    ("status", "body", "delay_s", "error", "says"),
    [
        # A wrong key: retrying cannot help, and the server's words (echoing it) are not kept.
        (
            401,
            error_body(f"Incorrect API key provided: {KEY}"),
            0,
            TranscribeUnavailable,
            "HTTP 401",
        ),
        (403, b"", 0, TranscribeUnavailable, "refused the key"),
        # A server error is retried; OpenAI's message is kept, short, with the key masked.
        (
            500,
            error_body(f"overloaded, key {KEY}"),
            0,
            TranscribeError,
            "HTTP 500: overloaded, key ****",
        ),
        (502, b"<html>bad gateway</html>", 0, TranscribeError, "answered HTTP 502"),
        # 200 but garbage: not JSON, JSON without text, text of the wrong type.
        (200, b"{not json", 0, TranscribeError, "not JSON"),
        (200, b'{"result": "hi"}', 0, TranscribeError, "without a text field"),
        (200, b'{"text": 42}', 0, TranscribeError, "without a text field"),
        (200, b"[1, 2]", 0, TranscribeError, "without a text field"),
        # Slower than timeout_s.
        (200, None, 3.0, TranscribeError, "no answer within 0.5 s"),
    ],
)
async def test_each_failure_is_a_transcribe_error_that_says_why_without_the_key(
    whisper: FakeWhisper,
    status: int,
    body: bytes | None,
    delay_s: float,
    error: type[TranscribeError],
    says: str,
) -> None:
    whisper.status, whisper.body, whisper.delay_s = status, body, delay_s
    engine = engine_for(whisper, timeout_s=0.5)
    try:
        with pytest.raises(TranscribeError) as raised:
            await engine.transcribe(CLIPS / "late.mp3")
    finally:
        await engine.aclose()
    assert type(raised.value) is error
    assert says in raised.value.message
    assert KEY not in raised.value.message and KEY not in repr(raised.value)


async def test_a_server_that_is_not_there_is_a_transient_error(tmp_path: Path) -> None:
    from support.net import free_port

    config = TranscribeConfig.model_validate(
        {"engine": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1"},
        context={"env": {}},
    )
    engine = OpenAIEngine(config)
    try:
        with pytest.raises(TranscribeError) as raised:
            await engine.transcribe(CLIPS / "late.mp3")
    finally:
        await engine.aclose()
    assert raised.value.transient and "could not reach 127.0.0.1" in raised.value.message


async def test_tossd_transcribe_prints_what_the_engine_heard_and_how_long_it_took(
    whisper: FakeWhisper, write_config: Any, run_tossd: Any, tmp_path: Path
) -> None:
    from subprocess import PIPE

    from support.cli import start_tossd

    whisper.text = "Call me back at 212-555-0134. [BLANK_AUDIO]"
    config = write_config(
        "http://127.0.0.1:9/apihttp.php",
        transcribe={"engine": "openai", "base_url": whisper.base_url, "language": "en"},
    )
    clip = CLIPS / "appointment.mp3"
    proc = await start_tossd(
        "transcribe", str(clip), "-c", str(config), stdout=PIPE, env={"TOSSD_TRANSCRIBE_KEY": KEY}
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    lines = out.decode().splitlines()
    assert lines[0].startswith("engine: openai; took ") and lines[0].endswith(" s")
    assert lines[1] == "Call me back at 212-555-0134."
    assert whisper.uploads[0].fields["language"] == "en"

    whisper.status, whisper.body = 401, error_body(f"bad key {KEY}")
    proc = await start_tossd(
        "transcribe", str(clip), "-c", str(config), stdout=PIPE, env={"TOSSD_TRANSCRIBE_KEY": KEY}
    )
    out, err = await proc.communicate()
    assert proc.returncode == 1
    assert b"refused the key (HTTP 401)" in err
    assert KEY.encode() not in out + err


async def test_tossd_transcribe_says_when_no_engine_is_set(
    write_config: Any, run_tossd: Any
) -> None:
    config = write_config("http://127.0.0.1:9/apihttp.php")
    code, _, err = await run_tossd("transcribe", str(CLIPS / "late.mp3"), "-c", str(config))
    assert code == 78 and 'transcribe.engine is "off"' in err
