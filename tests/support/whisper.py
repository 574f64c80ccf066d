"""A fake OpenAI-compatible transcription server on loopback (aiohttp): it checks the
multipart form every engine must send, and answers text, errors, garbage or slowly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: The fields `/audio/transcriptions` takes; anything else is a mistake of the engine.
KNOWN_FIELDS = {"file", "model", "language", "prompt", "response_format"}


@dataclass
class Upload:
    fields: dict[str, str]
    audio: bytes
    filename: str
    content_type: str
    authorization: str | None


@dataclass
class FakeWhisper:
    """Answers `text`; or `status` with `body`; or raw `body` with 200; after `delay_s`."""

    text: str = "Hello, this is a test voicemail."
    status: int = 200
    body: bytes | None = None
    delay_s: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0
    uploads: list[Upload] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[Upload]:
        async with asyncio.timeout(timeout):
            while len(self.uploads) < n:
                self._arrived.clear()
                await self._arrived.wait()
        return self.uploads

    async def handle(self, request: web.Request) -> web.Response:
        if request.path != "/v1/audio/transcriptions":
            self.problems.append(f"posted to {request.path}")
            return web.Response(status=404)
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            self.problems.append("no file part")
            return web.json_response({"error": {"message": "file missing"}}, status=400)
        with upload.file:  # closed here: a client that gives up cancels this handler
            audio = upload.file.read()
        unknown = set(form) - KNOWN_FIELDS
        if unknown:
            self.problems.append(f"unknown fields {sorted(unknown)}")
        self.uploads.append(
            Upload(
                fields={k: str(v) for k, v in form.items() if not isinstance(v, web.FileField)},
                audio=audio,
                filename=upload.filename,
                content_type=upload.content_type,
                authorization=request.headers.get("Authorization"),
            )
        )
        self._arrived.set()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status != 200:
            return web.Response(
                status=self.status, body=self.body or b"", content_type="application/json"
            )
        if self.body is not None:
            return web.Response(body=self.body, content_type="application/json")
        return web.json_response({"text": self.text})


def error_body(message: str) -> bytes:
    """An error as OpenAI words it."""
    payload: dict[str, Any] = {"error": {"message": message, "type": "invalid_request_error"}}
    return json.dumps(payload).encode()


@asynccontextmanager
async def serve_whisper(server: FakeWhisper) -> AsyncIterator[FakeWhisper]:
    app = web.Application(client_max_size=30 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", server.handle)
    # A short shutdown: a test may leave a deliberately slow answer pending.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, server.host, 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()
