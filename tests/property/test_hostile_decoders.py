"""Hostile replies: arbitrary, mutated, deeply nested and huge bodies at the envelope decoders
(json and php_serial) and typed-object validation. Only typed errors, and bounded work."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.cli import run_python

from tossd.api.client import Client
from tossd.api.envelope import Envelope, Format, decode_envelope, encode_envelope
from tossd.errors import ApiMalformedReply

FORMATS: tuple[Format, ...] = ("json", "php_serial")
MIB = 1024 * 1024
#: Generous for a loaded machine; a hang or a quadratic blow-up takes far longer.
BOUND_S = 5.0
HOSTILE = settings(
    max_examples=400,
    deadline=timedelta(seconds=BOUND_S),
    suppress_health_check=[HealthCheck.too_slow],
)

#: Byte sequences that have broken parsers elsewhere: absurd counts and lengths, PHP objects
#: and references, huge numbers, unpaired surrogates, NULs, BOMs, unbalanced nesting.
TOKENS: list[bytes] = [
    b"a:99999999999999999999:{",
    b"a:2147483647:{",
    b"a:1:{",
    b's:18446744073709551615:"',
    b's:-1:"',
    b's:5:"',
    b"i:" + b"9" * 5000 + b";",
    b"i:-0;",
    b"d:1e999999;",
    b"d:NAN;",
    b"d:-INF;",
    b"b:2;",
    b'O:8:"stdClass":0:{}',
    b"r:1;",
    b"R:2;",
    b'C:3:"Foo":0:{}',
    b'E:7:"Foo:Bar";',
    b"N;",
    b"}",
    b";",
    b"[" * 64,
    b'{"a":' * 64,
    b"1" * 5000,
    b"1e999999",
    b"-0.0e-0",
    b"NaN",
    b"Infinity",
    b'"\\ud800"',
    b'"\\u0000"',
    b"\x00",
    b"\xff\xfe\xfd",
    b"\xef\xbb\xbf",
    b'"msgs":',
    b'"status":',
    b'"data":',
    b"null",
    b"true",
    b",",
    b":",
    b'"',
]

_TEXT = st.text(max_size=24)
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    _TEXT,
    st.sampled_from(["", " ", "nan", "inf", "1e400", "0x10", "12.0", "١٢", "-", "9" * 30]),
)
_FIELDS = {
    "call": ("startdate", "duration", "extensionid", "callednum", "callernum", "seconds"),
    "voicemail": ("vmid", "calleridname", "callerid", "timestamp", "length", "clipid"),
    "sms": ("smsid", "source", "destination", "message", "timestamp", "direction"),
    "extension": ("extensionid", "did", "forward", "startdate", "enddate", "alias"),
    "clip": ("clipid", "clipname", "filesize", "duration", "filedata"),
}
_RECORD = st.sampled_from(list(_FIELDS.values())).flatmap(
    lambda fields: st.fixed_dictionaries({}, optional=dict.fromkeys(fields, _SCALAR))
)
_DATA = st.recursive(
    st.one_of(_SCALAR, _RECORD),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.one_of(_TEXT, st.sampled_from(["0", "1", "-1", "01"])), inner, max_size=4
        )
    ),
    max_leaves=25,
)
_JSON_SAFE = st.recursive(
    st.one_of(_SCALAR.filter(lambda v: not isinstance(v, int) or abs(v) < 2**63), _RECORD),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=25,
)


def decode_or_refuse(body: bytes, fmt: Format) -> Envelope | None:
    """Decode; a refusal must be ApiMalformedReply naming the format, with a safe excerpt."""
    started = time.perf_counter()
    try:
        envelope = decode_envelope(body, fmt)
    except ApiMalformedReply as exc:
        assert exc.message.startswith(f"{fmt} reply: ")
        assert len(exc.excerpt) <= 120 and exc.excerpt.isprintable()
        envelope = None
    else:
        assert isinstance(envelope.status, bool)
        assert all(isinstance(msg, str) for msg in envelope.msgs)
    assert time.perf_counter() - started < BOUND_S
    return envelope


def mutate(body: bytes, draw: Callable[[Any], Any]) -> bytes:
    """One to four edits: bit flips, insertions, deletions, duplicated slices, cut tails,
    hostile tokens spliced in."""
    out = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(out)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "cut", "token"]))
        if op == "flip" and at < len(out):
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del out[at : at + draw(st.integers(1, 16))]
        elif op == "duplicate":
            out[at:at] = out[at : at + draw(st.integers(1, 64))]
        elif op == "cut":
            del out[at:]
        else:
            out[at:at] = draw(st.sampled_from(TOKENS))
    return bytes(out)


@HOSTILE
@given(body=st.binary(max_size=4096), fmt=st.sampled_from(FORMATS))
def test_arbitrary_bytes_are_refused_with_a_typed_error(
    body: bytes, fmt: Format, tally: Counter[str]
) -> None:
    tally["decoders: arbitrary bytes"] += 1
    decode_or_refuse(body, fmt)


@HOSTILE
@given(
    msgs=st.lists(_TEXT, max_size=3),
    status=st.booleans(),
    data=_JSON_SAFE,
    fmt=st.sampled_from(FORMATS),
    draw=st.data(),
)
def test_mutated_envelopes_decode_or_are_refused_with_a_typed_error(
    msgs: list[str],
    status: bool,
    data: Any,
    fmt: Format,
    draw: st.DataObject,
    tally: Counter[str],
) -> None:
    tally["decoders: mutated envelopes"] += 1
    decode_or_refuse(mutate(encode_envelope(msgs, status, data, fmt), draw.draw), fmt)


@HOSTILE
@given(
    tokens=st.lists(st.sampled_from(TOKENS), max_size=40),
    fmt=st.sampled_from(FORMATS),
)
def test_token_soup_is_refused_with_a_typed_error(
    tokens: list[bytes], fmt: Format, tally: Counter[str]
) -> None:
    tally["decoders: token soup"] += 1
    decode_or_refuse(b"".join(tokens), fmt)


def _json_nest(depth: int) -> bytes:
    return b'{"status":true,"data":' + b"[" * depth + b"]" * depth + b"}"


def _json_objects(depth: int) -> bytes:
    return b'{"status":true,"data":' + b'{"a":' * depth + b"null" + b"}" * depth + b"}"


def _php_nest(depth: int) -> bytes:
    head = b'a:2:{s:6:"status";b:1;s:4:"data";'
    return head + b"a:1:{i:0;" * depth + b"N;" + b"}" * depth + b"}"


def _unclosed(depth: int) -> bytes:
    return b"[" * depth


@pytest.mark.parametrize("depth", [31, 33, 900, 100_000, 2_000_000])
@pytest.mark.parametrize(
    ("fmt", "build"),
    [
        ("json", _json_nest),
        ("json", _json_objects),
        ("json", _unclosed),
        ("php_serial", _php_nest),
        ("php_serial", _unclosed),
    ],
)
def test_deeply_nested_bodies_are_bounded(
    fmt: Format, build: Callable[[int], bytes], depth: int, tally: Counter[str]
) -> None:
    tally["decoders: deeply nested"] += 1
    envelope = decode_or_refuse(build(depth), fmt)
    if depth > 1000:  # beyond any recursion limit: refused, never a RecursionError
        assert envelope is None
    if fmt == "php_serial" and depth > 32:  # PHP arrays: at most 32 deep
        assert envelope is None


HUGE: dict[str, tuple[Format, Callable[[], bytes], bool]] = {
    "over the size cap": ("json", lambda: b" " * (64 * MIB + 1), False),
    "100k-digit number": ("json", lambda: b'{"status":true,"data":' + b"9" * 100_000 + b"}", False),
    "10 MB string": ("json", lambda: b'{"status":true,"data":"' + b"x" * (10 * MIB) + b'"}', True),
    "1M nulls": ("json", lambda: b'{"status":true,"data":[' + b"null," * 999_999 + b"null]}", True),
    "1M keys": (
        "json",
        lambda: b'{"status":true,"data":{' + b",".join(b'"%d":0' % i for i in range(10**6)) + b"}}",
        True,
    ),
    "php count past the item cap": (
        "php_serial",
        lambda: b"a:1000001:{" + b"i:0;N;" * 1_000_001 + b"}",
        False,
    ),
    "php count larger than the body": ("php_serial", lambda: b"a:99999999:{i:0;N;}", False),
    "php length larger than the body": ("php_serial", lambda: b's:100000000:"abc";', False),
    "php 10 MB string": (
        "php_serial",
        lambda: b'a:2:{s:6:"status";b:1;s:4:"data";s:10485760:"' + b"x" * (10 * MIB) + b'";}',
        True,
    ),
}


@pytest.mark.parametrize("name", list(HUGE))
def test_huge_bodies_are_bounded(name: str, tally: Counter[str]) -> None:
    tally["decoders: huge"] += 1
    fmt, build, accepted = HUGE[name]
    assert (decode_or_refuse(build(), fmt) is not None) is accepted


class Canned:
    """The client's transport seam (its `Caller` protocol), answering every call with `data`."""

    def __init__(self, data: Any) -> None:
        self.data = data

    async def call(self, method: str, params: Mapping[str, object]) -> Any:
        return self.data

    async def aclose(self) -> None:
        return None


CALLS: dict[str, dict[str, Any]] = {
    "extension_list": {},
    "extension_get": {"extensionid": 1},
    "call_records": {"startdate": 0, "enddate": 1},
    "call_summary": {"startdate": 0, "enddate": 1},
    "extension_voicemail_get": {"extensionid": 1},
    "audioclip_get": {"clipid": "1"},
    "audioclip_list": {},
    "sms_get": {"did": "+15550100", "startdate": 0, "enddate": 1},
    "extension_feature_get": {"name": "voicemail", "extensionid": 1},
    "number_list_pool": {},
}


async def call_with(data: Any, method: str) -> Any:
    async with Client(Canned(data)) as client:
        result = await getattr(client, method)(**CALLS[method])
        if method == "audioclip_get":
            # Documented: ValueError when filedata is not base64 (the poller catches it).
            with contextlib.suppress(ValueError):
                result.audio()
        return result


@HOSTILE
@given(data=_DATA, method=st.sampled_from(list(CALLS)))
def test_any_decoded_data_becomes_typed_objects_or_a_typed_error(
    data: Any, method: str, tally: Counter[str]
) -> None:
    tally["client: hostile data"] += 1
    try:
        asyncio.run(call_with(data, method))
    except ApiMalformedReply as exc:
        first, *rest = method.split("_")
        assert exc.message.startswith(first + "".join(map(str.title, rest)) + ": ")  # the method
        assert len(exc.excerpt) <= 120


MEMORY_PROBE = """
import asyncio, sys
from tossd.api.client import Client
from tossd.api.envelope import decode_envelope
from tossd.errors import ApiMalformedReply

def peak_kib():  # this process image's own high-water mark (ru_maxrss counts the parent's)
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0])

n = int(sys.argv[1])
body = b'{"status":true,"msgs":[],"data":[' + b",".join([b"0"] * n) + b"]}"
data = decode_envelope(body, "json").data

class Canned:
    async def call(self, method, params):
        return data if params.get("page") == 1 else []
    async def aclose(self):
        return None

before = peak_kib()
try:
    asyncio.run(Client(Canned()).call_records(startdate=0, enddate=1))
except ApiMalformedReply:
    pass
print(peak_kib() - before)
"""


@pytest.mark.timeout(120)
def test_a_huge_reply_of_bad_records_is_refused_in_bounded_memory(tally: Counter[str]) -> None:
    tally["client: huge bad reply"] += 1
    done = run_python(MEMORY_PROBE, "400000", timeout=100, check=True)
    grown_mib = int(done.stdout.strip()) / 1024
    print(f"[hostile] 400k bad records (0.8 MB body): peak RSS grew {grown_mib:.0f} MiB")
    assert grown_mib < 150
