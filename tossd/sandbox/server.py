"""The sandbox's HTTP face: `/apihttp.php` over aiohttp, with fault injection for tests."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from aiohttp import web

from tossd.api.envelope import Format, encode_envelope
from tossd.sandbox.arrivals import Arrivals
from tossd.sandbox.hostile import Hostility, padded
from tossd.sandbox.quirks import RATE_LIMIT_MESSAGE, RequestMeter
from tossd.sandbox.world import MethodError, World

log = structlog.get_logger(__name__)

#: `drip`: a valid reply a byte at a time; `endless`: a body that never ends.
FaultKind = Literal["status_false", "http_500", "hang", "malformed", "drip", "endless", "gzip_bomb"]

#: The provider's wording for a bad key is unknown; this one mentions the key, as ours must.
BAD_KEY_MESSAGE = "Invalid apikey"
INJECTED_ERROR_MESSAGE = "Temporary failure, please try again"


@dataclass
class Faults:
    """What the sandbox does wrong, on purpose: rates are probabilities per request."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    http_500_rate: float = 0.0
    hang_rate: float = 0.0
    malformed_rate: float = 0.0
    numbers_as_strings: bool = False
    seed: int = 0
    #: Requests naming one of these extension ids get `status:false` (one broken number).
    broken_extensions: set[int] = field(default_factory=set)
    #: What an injected `status:false` says (a hostile provider's words, in tests).
    error_message: str = INJECTED_ERROR_MESSAGE
    #: Hostile replies: dripped and endless bodies, and tampered records.
    hostile: Hostility = field(default_factory=Hostility)
    _forced: deque[tuple[FaultKind, str | None]] = field(default_factory=deque)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def force(self, kind: FaultKind, *, times: int = 1, method: str | None = None) -> None:
        """Make the next `times` requests (to `method`, or any) fail with `kind`."""
        self._forced.extend([(kind, method)] * times)

    def draw(self, method: str) -> FaultKind | None:
        for index, (kind, only) in enumerate(self._forced):
            if only is None or only == method:
                del self._forced[index]
                return kind
        roll = self._rng.random()
        for kind, rate in (
            ("hang", self.hang_rate),
            ("http_500", self.http_500_rate),
            ("malformed", self.malformed_rate),
            ("status_false", self.error_rate),
        ):
            if roll < rate:
                return kind
            roll -= rate
        return None


def stringify_numbers(value: Any) -> Any:
    """Send every number as a string, as PHP + MySQL services often do."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return {k: stringify_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stringify_numbers(v) for v in value]
    return value


class Sandbox:
    """Serves a `World` the way the provider serves an account."""

    def __init__(
        self,
        world: World,
        *,
        api_key: str,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.time,
        rate_limit: float | None = None,
    ) -> None:
        self.world = world
        self.faults = faults or Faults()
        self.requests: Counter[str] = Counter()
        #: Each request's time, method and node (tests: one node polls at a time).
        self.arrivals = Arrivals()
        #: Arrivals per second (tests check the client's budget) and the provider's limit.
        self.meter = RequestMeter(rate=rate_limit)
        #: Most requests ever handled at once: tests check the client's concurrency limit.
        self.max_in_flight = 0
        self._in_flight = 0
        self._api_key = api_key
        self._clock = clock
        self._hung: set[asyncio.Event] = set()
        self._arrivals: dict[str, asyncio.Event] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/apihttp.php", self.handle)
        app.on_shutdown.append(self._release_hung)
        return app

    async def wait_for(self, method: str) -> None:
        """Return once a request for `method` has arrived (tests: kill a client mid-call)."""
        if self.requests[method]:
            return
        await self._arrivals.setdefault(method, asyncio.Event()).wait()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return await self._handle(request)
        finally:
            self._in_flight -= 1

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params: dict[str, str] = {k: str(v) for k, v in request.query.items()}
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        fmt: Format = "php_serial" if params.get("format") == "php_serial" else "json"
        method = params.get("method", "")
        self.requests[method] += 1
        self.arrivals.note(method, request.headers.get("User-Agent", ""))
        if method in self._arrivals:
            self._arrivals[method].set()
        if not self.meter.admit():
            body = encode_envelope([RATE_LIMIT_MESSAGE], False, None, fmt)
            return web.Response(body=body, content_type=_MIME[fmt])
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        fault = self.faults.draw(method)
        if fault is not None and fault != "status_false":
            return await self._misbehave(fault, fmt, request)
        msgs, status, data = self._answer(method, params, fault)
        return web.Response(body=encode_envelope(msgs, status, data, fmt), content_type=_MIME[fmt])

    def _answer(
        self, method: str, params: Mapping[str, str], fault: FaultKind | None
    ) -> tuple[list[str], bool, Any]:
        if not params.get("apikey"):
            return ["Required value apikey not set or is empty"], False, None
        if params["apikey"] != self._api_key:
            return [BAD_KEY_MESSAGE], False, None
        if fault == "status_false" or self._is_broken(params):
            return [self.faults.error_message], False, None
        now = int(self._clock())
        created = self.world.advance(now)
        if created:
            log.info("sandbox.activity", items=created)
        try:
            data = self.world.call(method, params, now)
        except MethodError as exc:
            return [str(exc)], False, None
        if self.faults.numbers_as_strings:
            data = stringify_numbers(data)
        return [], True, self.faults.hostile.tampered(method, data)

    def _is_broken(self, params: Mapping[str, str]) -> bool:
        wanted = params.get("extensionid", "")
        return wanted.isdigit() and int(wanted) in self.faults.broken_extensions

    async def _misbehave(
        self, fault: FaultKind, fmt: Format, request: web.Request
    ) -> web.StreamResponse:
        if fault in ("drip", "endless", "gzip_bomb"):
            return await self._stream(fault, fmt, request)
        if fault == "http_500":
            return web.Response(status=500, text="Internal Server Error")
        if fault == "malformed":
            body = encode_envelope([], True, {"truncated": "x" * 64}, fmt)
            return web.Response(body=body[: len(body) // 2], content_type=_MIME[fmt])
        # A hung request: never answer until the server shuts down.
        release = asyncio.Event()
        self._hung.add(release)
        try:
            await release.wait()
        finally:
            self._hung.discard(release)
        return web.Response(status=503)

    async def _stream(
        self, fault: FaultKind, fmt: Format, request: web.Request
    ) -> web.StreamResponse:
        release = asyncio.Event()
        self._hung.add(release)
        try:
            if fault == "drip":
                body = padded(encode_envelope([], True, [], fmt), 4096)
                return await self.faults.hostile.drip(request, body, release)
            if fault == "gzip_bomb":
                return await self.faults.hostile.gzip_bomb(request, release)
            return await self.faults.hostile.endless(request, release)
        finally:
            self._hung.discard(release)

    async def _release_hung(self, app: web.Application) -> None:
        for release in list(self._hung):
            release.set()


_MIME: dict[Format, str] = {"json": "application/json", "php_serial": "text/plain"}


@dataclass
class RunningSandbox:
    """A sandbox listening on loopback; `url` is what a client points at."""

    sandbox: Sandbox
    url: str


@asynccontextmanager
async def serve(
    sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSandbox]:
    """Serve `sandbox` on host:port (0 picks a free port) until the block ends."""
    runner = web.AppRunner(sandbox.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield RunningSandbox(sandbox, f"http://{bound_host}:{bound_port}/apihttp.php")
    finally:
        await runner.cleanup()
