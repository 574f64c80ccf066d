"""The openai engine: POST the MP3 to any OpenAI-compatible `/audio/transcriptions`.

OpenAI, Groq, faster-whisper-server (speaches), LocalAI and whisper.cpp's server (started
with `--inference-path /v1/audio/transcriptions`) all take the same multipart form. Only
`text` is read from the JSON answer. The key travels only in the Authorization header and
is never part of an error or a log line.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from tossd.config.transcribe import TranscribeConfig
from tossd.errors import TranscribeError, TranscribeUnavailable
from tossd.text.untrusted import one_line
from tossd.transcribe.engine import Heard, tidy

#: OpenAI refuses uploads over 25 MB; a voicemail is far smaller, so larger is a mistake.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
#: A JSON answer holding a transcript of `max_seconds` of speech is a few KB.
MAX_ANSWER_BYTES = 1024 * 1024
_DETAIL_LEN = 160


class OpenAIEngine:
    """One aiohttp session for the daemon's life; one request per attempt (the caller's
    `RetryPolicy` decides when the next attempt is)."""

    name = "openai"

    def __init__(self, config: TranscribeConfig) -> None:
        self._config = config
        self._url = f"{config.base_url}/audio/transcriptions"
        self._where = urlsplit(config.base_url).hostname or "the server"
        self._session: aiohttp.ClientSession | None = None

    async def transcribe(self, path: Path) -> Heard:
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:  # pruned by retention, or the disk failing: try again later
            raise TranscribeError(f"cannot read the recording: {exc.strerror}") from None
        if len(data) > MAX_UPLOAD_BYTES:
            raise TranscribeUnavailable(f"the recording is {len(data)} bytes, over 25 MB")
        started = time.monotonic()
        status, body = await self._post(self._form(data, path.name))
        text = self._text(status, body)
        return Heard(tidy(text), time.monotonic() - started)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _form(self, data: bytes, filename: str) -> aiohttp.FormData:
        config = self._config
        form = aiohttp.FormData()
        form.add_field(
            "file", data, filename=filename or "voicemail.mp3", content_type="audio/mpeg"
        )
        form.add_field("model", config.model)
        form.add_field("response_format", "json")
        if config.language:
            form.add_field("language", config.language)
        if config.prompt:
            form.add_field("prompt", config.prompt)
        return form

    async def _post(self, form: aiohttp.FormData) -> tuple[int, bytes]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        key = self._config.bearer()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        timeout = aiohttp.ClientTimeout(total=self._config.timeout_s)
        try:
            async with self._session.post(
                self._url, data=form, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.content.read(MAX_ANSWER_BYTES)
        except TimeoutError:
            raise TranscribeError(
                f"{self._where} gave no answer within {self._config.timeout_s:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise TranscribeError(f"could not reach {self._where}: {type(exc).__name__}") from None

    def _text(self, status: int, body: bytes) -> str:
        if status in (401, 403):
            raise TranscribeUnavailable(
                f"{self._where} refused the key (HTTP {status}): check transcribe.key"
            )
        if status != 200:
            detail = self._detail(body)
            raise TranscribeError(f"{self._where} answered HTTP {status}{detail}")
        try:
            answer = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise TranscribeError(f"{self._where} sent an answer that is not JSON") from None
        text = answer.get("text") if isinstance(answer, dict) else None
        if not isinstance(text, str):
            raise TranscribeError(f"{self._where} sent JSON without a text field")
        return text

    def _detail(self, body: bytes) -> str:
        """The server's own words (OpenAI's `error.message`), short, one line, key removed."""
        try:
            answer = json.loads(body)
            error = answer.get("error") if isinstance(answer, dict) else None
            message = error.get("message") if isinstance(error, dict) else error
        except (UnicodeDecodeError, json.JSONDecodeError):
            message = None
        if not isinstance(message, str) or not message.strip():
            return ""
        key = self._config.bearer()
        if key:
            message = message.replace(key, "****")
        return f": {one_line(message, _DETAIL_LEN)}"
