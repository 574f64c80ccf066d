"""A reply body read within its cap, compressed or not (tossd.api.bounded), as a table."""

from __future__ import annotations

import gzip
import zlib

import pytest

from tossd.api.bounded import BodyTooBig, BoundedBody, UnknownEncoding

CAP = 1000
TEXT = b'{"status":true,"data":[]}'


def read(encoding: str, raw: bytes, cap: int = CAP, chunk: int = 7) -> bytes:
    body = BoundedBody(encoding, cap)
    for start in range(0, len(raw), chunk):
        body.feed(raw[start : start + chunk])
    return body.take()


@pytest.mark.parametrize(
    ("encoding", "raw"),
    [
        ("", TEXT),  # nothing said: as sent
        ("identity", TEXT),
        ("gzip", gzip.compress(TEXT)),  # what a provider behind a proxy may send
        ("GZIP ", gzip.compress(TEXT)),  # names are case-insensitive
        ("x-gzip", gzip.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)),  # zlib-wrapped, as the RFC says
        ("identity, gzip", gzip.compress(TEXT)),
    ],
)
def test_what_tossd_asks_for_is_read(encoding: str, raw: bytes) -> None:
    assert read(encoding, raw) == TEXT


@pytest.mark.parametrize(
    ("encoding", "raw"),
    [
        ("", b"x" * (CAP + 1)),  # one byte over
        ("gzip", gzip.compress(bytes(CAP * 1000))),  # a small bomb: cut at the cap
    ],
)
def test_over_the_cap_is_refused(encoding: str, raw: bytes) -> None:
    with pytest.raises(BodyTooBig, match=f"more than {CAP} bytes"):
        read(encoding, raw)


def test_exactly_the_cap_is_read() -> None:
    assert read("gzip", gzip.compress(bytes(CAP))) == bytes(CAP)


@pytest.mark.parametrize(
    "encoding",
    [
        "br",  # never asked for
        "zstd",
        "gzip, gzip",  # stacked: each layer multiplies
        "compress",
        "\x1b[31mgzip",  # shown inert in the error
    ],
)
def test_what_tossd_did_not_ask_for_is_refused(encoding: str) -> None:
    with pytest.raises(UnknownEncoding) as caught:
        BoundedBody(encoding, CAP)
    assert "\x1b" not in str(caught.value)


def test_corrupt_compressed_bytes_are_refused() -> None:
    with pytest.raises(UnknownEncoding, match="undecodable"):
        read("gzip", b"\x1f\x8b\x08\x00garbage" * 3)
