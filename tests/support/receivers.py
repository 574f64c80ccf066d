"""Notification receivers on loopback: a real SMTP server (aiosmtpd), and an HTTP endpoint for
Apprise's `json://` that can fail, refuse or answer slowly on purpose."""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, TypeVar, cast

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

#: aiohttp's own default cap on a request body.
DEFAULT_MAX_BODY = 1024 * 1024


async def _wait_until(ready: asyncio.Event, done: Callable[[], bool], timeout: float) -> None:
    """Wait until `done()` holds; `ready` is set (on this loop) after every arrival."""
    async with asyncio.timeout(timeout):
        while not done():
            ready.clear()
            await ready.wait()


# -- SMTP ---------------------------------------------------------------------------------------


class _AnyPortController(Controller):
    """aiosmtpd's Controller bound to port 0: learns the kernel's port before its self-test.

    Controller connects to (hostname, port) once after binding, which fails for port 0.
    """

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpServer:
    """Mail that reached the SMTP server, parsed; `url()` is the Apprise URL that sends here."""

    host: str
    port: int
    loop: asyncio.AbstractEventLoop
    messages: list[EmailMessage] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, to: str = "you@example.com", sender: str = "tossd@example.com") -> str:
        # mailto:// is plain SMTP; mode=insecure says so explicitly (no STARTTLS, no login).
        return f"mailto://{self.host}:{self.port}?from={sender}&to={to}&mode=insecure"

    def received(self, message: EmailMessage) -> None:
        self.messages.append(message)
        self._arrived.set()

    async def wait_for(self, n: int, timeout: float = 5.0) -> list[EmailMessage]:
        await _wait_until(self._arrived, lambda: len(self.messages) >= n, timeout)
        return self.messages


class _Mailbox:
    """aiosmtpd handler: runs on the controller's own thread and loop, hands mail to ours."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))
        self.server.loop.call_soon_threadsafe(self.server.received, parsed)
        return "250 OK"


@asynccontextmanager
async def serve_smtp(port: int = 0) -> AsyncIterator[SmtpServer]:
    """An SMTP server on loopback until the block ends: on `port`, else a free one."""
    server = SmtpServer("127.0.0.1", port, asyncio.get_running_loop())
    controller = _AnyPortController(_Mailbox(server), hostname=server.host, port=port)
    # start() blocks until the server thread answers; keep it off this test's loop.
    await asyncio.to_thread(controller.start)
    server.port = controller.port
    try:
        yield server
    finally:
        await asyncio.to_thread(controller.stop)


class Blackhole:
    """Accepts connections and holds them open without a byte: the worst peer there is (an
    SMTP server that never greets, an HTTP server that never answers)."""

    def __init__(self) -> None:
        self.accepted = 0
        self._held: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on a free loopback port; returns it."""
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _hold(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._held.append(writer)

    async def stop(self) -> None:
        """Close the listener and every held connection (again: a no-op)."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for writer in self._held:
            writer.close()
        await server.wait_closed()


# -- Apprise json:// ----------------------------------------------------------------------------


@dataclass
class JsonPost:
    path: str
    payload: dict[str, Any]
    authorization: str | None


@dataclass
class JsonReceiver:
    """An HTTP endpoint for Apprise's json:// plugin that records what it accepted.

    A hostile peer on demand: `fail_next(n)` answers the next n posts with HTTP 500, `down =
    True` answers all of them so, `fail_rate` a random share of them (drawn from `seed`), and
    `delay_s` holds every answer back (a slow receiver).

    A held post is recorded when its answer is due even if the sender died meanwhile: aiohttp
    does not cancel a handler when its client goes away, so this is exactly what a real
    receiver that got the message before the crash would have.
    """

    host: str = "127.0.0.1"
    port: int = 0
    posts: list[JsonPost] = field(default_factory=list)
    attempts: int = 0
    failures: int = 0
    in_flight: int = 0
    down: bool = False
    fail_rate: float = 0.0
    delay_s: float = 0.0
    seed: int = 0
    _failures_left: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [post.payload for post in self.posts]

    @property
    def bodies(self) -> list[str]:
        """The message text of every accepted post."""
        return [str(post.payload.get("message", "")) for post in self.posts]

    def url(self, path: str = "notify", *, auth: str = "", query: str = "") -> str:
        """`json://[auth@]127.0.0.1:PORT/path[?query]`: Apprise POSTs to http://.../path."""
        userinfo = f"{auth}@" if auth else ""
        return f"json://{userinfo}{self.host}:{self.port}/{path}" + (f"?{query}" if query else "")

    def fail_next(self, n: int) -> None:
        self._failures_left = n

    async def wait_for(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        await _wait_until(self._arrived, lambda: len(self.posts) >= n, timeout)
        return self.payloads

    def _refuses(self) -> bool:
        if self.down or self._failures_left > 0:
            self._failures_left = max(0, self._failures_left - 1)
            return True
        return self._rng.random() < self.fail_rate

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.in_flight += 1
        try:
            payload = await request.json()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self._refuses():
                self.failures += 1
                return web.Response(status=500, text="receiver failing on purpose")
            auth = request.headers.get("Authorization")
            self.posts.append(JsonPost(request.path, payload, auth))
            self._arrived.set()
            return web.json_response({"ok": True})
        finally:
            self.in_flight -= 1


R = TypeVar("R", bound=JsonReceiver)


@asynccontextmanager
async def serve_json(receiver: R, *, max_body: int = DEFAULT_MAX_BODY) -> AsyncIterator[R]:
    """Serve `receiver` on a free loopback port until the block ends; `max_body` caps a post."""
    app = web.Application(client_max_size=max_body)
    app.router.add_post("/{tail:.*}", receiver.handle)
    # A short shutdown: a test may leave a deliberately slow answer pending.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, receiver.host, 0)
    await site.start()
    receiver.port = runner.addresses[0][1]
    try:
        yield receiver
    finally:
        await runner.cleanup()
