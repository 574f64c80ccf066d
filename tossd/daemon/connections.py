"""The health server's connections: how many at once, and how long each may last.

aiohttp has no deadline for reading a request's headers, so a client that sends them a byte
at a time (slowloris) holds its connection, and a file descriptor, for as long as it likes;
enough of them leave none for the database, the API or the sends. Each connection is counted
and given a deadline here, where it is accepted: over MAX_CONNECTIONS a new one is closed at
once, and any connection still open CONNECTION_DEADLINE_S after it was made is cut (answering
/healthz or /metrics takes milliseconds; a keep-alive client simply connects again).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger(__name__)

#: Connections served at once: far more than any scraper and health checker need together.
MAX_CONNECTIONS = 32
#: The longest a connection lasts, idle keep-alive included.
CONNECTION_DEADLINE_S = 10.0
#: An idle keep-alive connection is closed after this long (aiohttp's default is 75 s).
KEEPALIVE_S = 5.0


class ConnectionGuard:
    """Counts the open connections; says once when it starts refusing, once when it stops."""

    def __init__(self, limit: int, deadline_s: float) -> None:
        self.limit = limit
        self.deadline_s = deadline_s
        self.open = 0
        self.refused = 0
        self._full = False

    def wrap(self, protocol: asyncio.Protocol) -> asyncio.Protocol:
        return _Guarded(protocol, self)

    def admit(self) -> bool:
        if self.open < self.limit:
            self.open += 1
            return True
        self.refused += 1
        if not self._full:
            self._full = True  # one line per episode, never one per connection
            log.warning("health.connections_full", limit=self.limit)
        return False

    def release(self) -> None:
        self.open -= 1
        if self._full and self.open == 0:
            log.info("health.connections_normal", refused=self.refused)
            self._full, self.refused = False, 0


class _Guarded(asyncio.Protocol):
    """aiohttp's handler for one connection, behind the guard's count and deadline."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.admit():
            transport.abort()  # type: ignore[attr-defined]
            return
        self._admitted = True
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._guard.deadline_s, transport.abort)  # type: ignore[attr-defined]
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        if self._deadline is not None:
            self._deadline.cancel()
        self._guard.release()
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
