"""Replies a hostile or broken provider sends: a body dripped a byte at a time, an endless
body, and records tampered with before they are encoded (tests of the client's edge)."""

from __future__ import annotations

import asyncio
import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: A tamper hook: the `data` the world answered in, the `data` sent instead.
Tamper = Callable[[Any], Any]
#: Sent by `endless` before its filler: an envelope whose `data` string never ends.
_ENDLESS_HEAD = b'{"msgs":[],"status":true,"data":"'
_CHUNK = b"A" * 65536


@dataclass
class Hostility:
    """What the hostile replies did: how many bytes the endless ones got out, and whether a
    client hung up on one before its end (the cap working)."""

    drip_interval_s: float = 0.05
    #: An endless body stops here on its own (a test that the cap works never gets there).
    endless_limit: int = 2 * 1024 * 1024 * 1024
    #: How many times `gzip_bomb` compresses its body (each layer named in Content-Encoding).
    bomb_layers: int = 1
    #: Data transformers by method: a provider's hostile records, or a wrong shape.
    tamper: dict[str, Tamper] = field(default_factory=dict)
    streamed_bytes: int = 0
    hung_up: int = 0

    def tampered(self, method: str, data: Any) -> Any:
        hook = self.tamper.get(method)
        return data if hook is None else hook(data)

    async def drip(
        self, request: web.Request, body: bytes, stop: asyncio.Event
    ) -> web.StreamResponse:
        """`body`, one byte per `drip_interval_s`: each read gets data, so only a deadline
        for the whole reply ends it early."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for index in range(len(body)):
            if stop.is_set() or not await self._write(response, body[index : index + 1]):
                return response
            await asyncio.sleep(self.drip_interval_s)
        await response.write_eof()
        return response

    async def endless(self, request: web.Request, stop: asyncio.Event) -> web.StreamResponse:
        """A chunked body that never ends (up to `endless_limit`): a client that reads it all
        into memory before looking holds gigabytes."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if not await self._write(response, _ENDLESS_HEAD):
            return response
        while self.streamed_bytes < self.endless_limit and not stop.is_set():
            if not await self._write(response, _CHUNK):
                return response
        return response

    async def gzip_bomb(self, request: web.Request, stop: asyncio.Event) -> web.StreamResponse:
        """About 1 KiB of gzip per MiB it inflates to, up to `endless_limit`, sent whether
        gzip was asked for or not (`bomb_layers = 2` names it `gzip, gzip`, which inflates a
        million-fold): a client that inflates each chunk whole holds a thousand times what
        it received. Nobody is meant to reach the end: its trailer is not checked."""
        encoding = ", ".join(["gzip"] * self.bomb_layers)
        response = web.StreamResponse(
            headers={"Content-Type": "application/json", "Content-Encoding": encoding}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        head, unit, unit_inflates_to = _bomb_pieces(self.bomb_layers)
        inflated = 0
        if not await self._write(response, head):
            return response
        while inflated < self.endless_limit and not stop.is_set():
            inflated += unit_inflates_to
            if not await self._write(response, unit):
                return response
        return response

    async def _write(self, response: web.StreamResponse, data: bytes) -> bool:
        """Write `data`; False once the client has hung up."""
        try:
            await response.write(data)
        except ConnectionError:
            self.hung_up += 1
            return False
        self.streamed_bytes += len(data)
        return True


_MIB = 1024 * 1024


@functools.cache
def _bomb_pieces(layers: int) -> tuple[bytes, bytes, int]:
    """A gzip stream's start (the endless envelope's head), a unit that may be repeated as
    often as wanted, and how many bytes the unit inflates to in the end. Each piece ends in
    a full flush, so the same input compresses to the same bytes every time; a second layer
    compresses a thousand of the first layer's units (computed once, in milliseconds)."""
    head, unit, inflates_to = _ENDLESS_HEAD, bytes(_MIB), _MIB
    for layer in range(layers):
        if layer:
            unit, inflates_to = unit * 1024, inflates_to * 1024
        squeeze = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        head = squeeze.compress(head) + squeeze.flush(zlib.Z_FULL_FLUSH)
        unit = squeeze.compress(unit) + squeeze.flush(zlib.Z_FULL_FLUSH)
    return head, unit, inflates_to


def padded(body: bytes, size: int) -> bytes:
    """`body` after leading whitespace, `size` bytes in all: a valid reply that takes long
    to drip."""
    return b" " * max(0, size - len(body)) + body
