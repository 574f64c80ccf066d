"""The sandbox's audio: MP3 sine tones for voicemails and greetings, uploads, the clip library."""

from __future__ import annotations

import array
import base64
import binascii
import functools
import itertools
import math
import sys
from typing import Any

import lameenc

# About -8.7 dBFS: clearly audible, and leaves headroom so the encoded tone never clips.
_AMPLITUDE = 12_000
_BIT_RATE_KBPS = 16  # phone audio is 8 kHz mono: more bits would only make the fixtures bigger
_FASTEST = 7  # LAME quality 7: a tone needs no psychoacoustic care, and tests want speed

# Layer III bit rates by the header's bitrate index: MPEG-1, then MPEG-2 and 2.5.
_KBPS = {
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


@functools.lru_cache(maxsize=128)
def tone_mp3(seconds: int, *, freq_hz: int = 440, sample_rate: int = 8000) -> bytes:
    """A playable mono MP3 of a `freq_hz` sine tone lasting `seconds`."""
    if seconds < 1 or not 0 < freq_hz < sample_rate // 2:
        raise ValueError(f"no tone of {seconds} s at {freq_hz} Hz sampled at {sample_rate} Hz")
    # The waveform repeats every `period` samples, a divisor of `sample_rate`: computing one
    # period and repeating it keeps a 30 s clip far under the time budget.
    period = sample_rate // math.gcd(freq_hz, sample_rate)
    step = 2 * math.pi * freq_hz / sample_rate
    cycle = array.array("h", (round(_AMPLITUDE * math.sin(step * i)) for i in range(period)))
    pcm = cycle * (seconds * sample_rate // period)
    if sys.byteorder == "big":
        pcm.byteswap()  # LAME reads little-endian PCM
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(_BIT_RATE_KBPS)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(_FASTEST)
    encoder.silence()
    return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


def decode_upload(filedata: str, filesize: int | None) -> bytes:
    """The bytes of a base64 upload, checked against the size the sender announced."""
    # Whitespace goes (some encoders wrap lines); anything else outside base64 is an error,
    # which is how a "+" turned into a space by careless form encoding gets caught.
    try:
        data = base64.b64decode("".join(filedata.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Invalid value for filedata: it is not base64") from None
    if filesize is not None and filesize != len(data):
        raise ValueError(f"filesize {filesize} does not match the {len(data)} bytes of filedata")
    return data


def mp3_seconds(data: bytes) -> int:
    """Duration of a constant-bit-rate MP3 from its first frame header; 0 if it is no MP3."""
    start = _after_id3(data)
    header = data[start : start + 4]
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return 0
    mpeg1 = header[1] & 0x18 == 0x18
    layer3 = header[1] & 0x06 == 0x02
    index = header[2] >> 4
    if not layer3 or not 0 < index < 15:
        return 0
    return round((len(data) - start) * 8 / (_KBPS[mpeg1][index] * 1000))


def _after_id3(data: bytes) -> int:
    """Offset just past a leading ID3v2 tag (its size is four 7-bit "syncsafe" bytes)."""
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    size = 0
    for byte in data[6:10]:
        size = size << 7 | byte & 0x7F
    return 10 + size


class ClipLibrary:
    """The account's audio clips: Audioclip records by clipid (as text), with their MP3 bytes."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self._data: dict[str, bytes] = {}
        self._ids = itertools.count(70_001)

    def __contains__(self, clipid: object) -> bool:
        return clipid in self.records

    def add(
        self,
        data: bytes,
        *,
        clipname: str,
        duration: int,
        added: int,
        cliptype: str = "outgoing",
        clipid: str | None = None,
    ) -> dict[str, Any]:
        """Store a clip; its id is the next number unless a word id (`vmdefault`) is given."""
        # Numbered clips keep an int clipid, as the Audioclip table documents; word ids stay str.
        ident: int | str = next(self._ids) if clipid is None else clipid
        self.records[str(ident)] = {
            "clipid": ident,
            "clipname": clipname,
            "filesize": len(data),
            "duration": duration,
            "added": added,
            "cliptype": cliptype,
            "filedata": "",
        }
        self._data[str(ident)] = data
        return dict(self.records[str(ident)])

    def data(self, clipid: str) -> bytes:
        return self._data[clipid]

    def remove(self, clipid: str) -> None:
        self.records.pop(clipid, None)
        self._data.pop(clipid, None)
