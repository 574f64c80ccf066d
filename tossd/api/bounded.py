"""A reply body read within a size cap, decompressed a bounded piece at a time.

httpx decompresses each received chunk whole: one 64 KiB chunk of a gzip bomb becomes
64 MiB and more in memory before any cap can be checked. Here the raw bytes are fed in and
each step inflates at most what the cap still allows, so memory stays bounded by the cap
whatever the server sends, compressed or not.
"""

from __future__ import annotations

import zlib

#: gzip or zlib framing, told apart by zlib itself.
_GZIP_OR_ZLIB = zlib.MAX_WBITS | 32
#: The encodings tossd asks for; anything else a server sends anyway is refused.
ACCEPT_ENCODING = "gzip, deflate"


class BodyTooBig(Exception):
    """The body is over the cap (its size so far, or a piece of it, says so)."""


class UnknownEncoding(Exception):
    """A Content-Encoding tossd did not ask for and cannot read within its cap."""


class BoundedBody:
    """Feed raw chunks; `take()` the decoded body. Raises BodyTooBig past `cap` bytes."""

    def __init__(self, content_encoding: str, cap: int) -> None:
        self._cap = cap
        self._body = bytearray()
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise UnknownEncoding(repr(content_encoding[:40]))
        self._inflate = zlib.decompressobj(_GZIP_OR_ZLIB) if codings else None

    def feed(self, raw: bytes) -> None:
        if self._inflate is None:
            self._add(raw)
            return
        pending = raw
        while pending:
            room = self._cap + 1 - len(self._body)  # one byte more than fits: over the cap
            try:
                piece = self._inflate.decompress(pending, room)
            except zlib.error as exc:
                raise UnknownEncoding(f"undecodable compressed body: {exc}") from None
            self._add(piece)
            pending = self._inflate.unconsumed_tail

    def take(self) -> bytes:
        return bytes(self._body)

    def _add(self, piece: bytes) -> None:
        self._body += piece
        if len(self._body) > self._cap:
            raise BodyTooBig(f"more than {self._cap} bytes")
