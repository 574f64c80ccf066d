"""Tests for the reply envelope in both wire formats."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tossd.api.envelope import Envelope, Format, decode_envelope, encode_envelope
from tossd.errors import ApiMalformedReply

MSG = "Required value forward not set or is empty"
SPEC_JSON = b'{"msgs":["Required value forward not set or is empty"],"status":false,"data":null}'
SPEC_PHP = (
    b'a:3:{s:4:"msgs";a:1:{i:0;s:42:"Required value forward not set or is empty";}'
    b's:6:"status";b:0;s:4:"data";N;}'
)
SPEC_ENVELOPE = Envelope(msgs=(MSG,), status=False, data=None)
FORMATS: list[Format] = ["json", "php_serial"]
FAST = settings(max_examples=200, deadline=None)


def _php_str(text: str) -> bytes:
    raw = text.encode()
    return b's:%d:"%s";' % (len(raw), raw)


def _php_envelope(msgs: bytes, status: bytes, data: bytes = b"N;") -> bytes:
    fields = _php_str("msgs") + msgs + _php_str("status") + status + _php_str("data") + data
    return b"a:3:{" + fields + b"}"


# -- the provider's examples ---------------------------------------------------------------


@pytest.mark.parametrize(("body", "fmt"), [(SPEC_JSON, "json"), (SPEC_PHP, "php_serial")])
def test_spec_examples_decode_identically(body: bytes, fmt: Format) -> None:
    assert decode_envelope(body, fmt) == SPEC_ENVELOPE


@pytest.mark.parametrize(("body", "fmt"), [(SPEC_JSON, "json"), (SPEC_PHP, "php_serial")])
def test_spec_examples_encode_byte_for_byte(body: bytes, fmt: Format) -> None:
    assert encode_envelope([MSG], False, None, fmt) == body


# -- msgs, status and data coercion --------------------------------------------------------


@pytest.mark.parametrize(
    ("msgs_json", "msgs_php", "expected"),
    [
        (None, None, ()),
        ("null", b"N;", ()),
        ("[]", b"a:0:{}", ()),
        ('["a","b"]', b"a:2:{i:0;" + _php_str("a") + b"i:1;" + _php_str("b") + b"}", ("a", "b")),
        (
            '{"1":"b","0":"a"}',
            b"a:2:{i:1;" + _php_str("b") + b"i:0;" + _php_str("a") + b"}",
            ("a", "b"),
        ),
        ('{"3":"only"}', b"a:1:{i:3;" + _php_str("only") + b"}", ("only",)),
        ('"single"', _php_str("single"), ("single",)),
        ("[5, 0.5]", b"a:2:{i:0;i:5;i:1;d:0.5;}", ("5", "0.5")),
    ],
)
def test_msgs_shapes(
    msgs_json: str | None, msgs_php: bytes | None, expected: tuple[str, ...]
) -> None:
    json_body = '{"status":true}' if msgs_json is None else f'{{"msgs":{msgs_json},"status":true}}'
    php_body = (
        b"a:1:{" + _php_str("status") + b"b:1;}"
        if msgs_php is None
        else _php_envelope(msgs_php, b"b:1;")
    )
    assert decode_envelope(json_body.encode(), "json").msgs == expected
    assert decode_envelope(php_body, "php_serial").msgs == expected


@pytest.mark.parametrize(
    ("status_json", "status_php", "expected"),
    [
        ("true", b"b:1;", True),
        ("false", b"b:0;", False),
        ("1", b"i:1;", True),
        ("0", b"i:0;", False),
        ('"1"', _php_str("1"), True),
        ('"0"', _php_str("0"), False),
        ('"true"', _php_str("true"), True),
        ('"FALSE"', _php_str("FALSE"), False),
    ],
)
def test_status_shapes(status_json: str, status_php: bytes, expected: bool) -> None:
    json_body = f'{{"msgs":[],"status":{status_json},"data":null}}'.encode()
    assert decode_envelope(json_body, "json").status is expected
    assert decode_envelope(_php_envelope(b"a:0:{}", status_php), "php_serial").status is expected


@pytest.mark.parametrize(
    ("data_json", "data_php", "expected"),
    [
        ('"text"', _php_str("text"), "text"),
        ("42", b"i:42;", 42),
        ('[1,"2"]', b"a:2:{i:0;i:1;i:1;" + _php_str("2") + b"}", [1, "2"]),
        (
            '{"a":{"b":null}}',
            b"a:1:{" + _php_str("a") + b"a:1:{" + _php_str("b") + b"N;}}",
            {"a": {"b": None}},
        ),
    ],
)
def test_data_passes_through(data_json: str, data_php: bytes, expected: Any) -> None:
    json_body = f'{{"msgs":[],"status":true,"data":{data_json}}}'.encode()
    assert decode_envelope(json_body, "json").data == expected
    assert (
        decode_envelope(_php_envelope(b"a:0:{}", b"b:1;", data_php), "php_serial").data == expected
    )


def test_missing_data_and_extra_keys() -> None:
    decoded = decode_envelope(b'{"status":true,"extra":[1],"msgs":["m"]}', "json")
    assert decoded == Envelope(msgs=("m",), status=True, data=None)


# -- malformed replies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fmt", "reason"),
    [
        (b"", "json", "not JSON"),
        (b"<html>502 Bad Gateway</html>", "json", "not JSON"),
        (b"\xff\xfe\x00garbage", "json", "not JSON"),
        (b'{"status":true', "json", "not JSON"),
        (b"[1,2]", "json", "top level is a list"),
        (b'"ok"', "json", "top level is a str"),
        (b'{"msgs":[]}', "json", "no status"),
        (b'{"status":2}', "json", "status 2 is not a boolean"),
        (b'{"status":"yes"}', "json", "status 'yes' is not a boolean"),
        (b'{"status":null}', "json", "status None is not a boolean"),
        (b'{"status":1.0}', "json", "is not a boolean"),
        (b'{"status":[]}', "json", "is not a boolean"),
        (b'{"status":true,"msgs":7}', "json", "msgs is a int"),
        (b'{"status":true,"msgs":[null]}', "json", "a message is a NoneType"),
        (b'{"status":true,"msgs":[true]}', "json", "a message is a bool"),
        (b'{"status":true,"msgs":[["nested"]]}', "json", "a message is a list"),
        (b'{"status":true,"msgs":{"a":"b"}}', "json", "non-integer keys"),
        (b"", "php_serial", "not PHP serialize() output"),
        (b'O:8:"stdClass":0:{}', "php_serial", "objects are not supported"),
        (b"a:1:{i:0;b:1;}", "php_serial", "top level is a list"),
        (b"a:1:{" + _php_str("msgs") + b"a:0:{}}", "php_serial", "no status"),
        (_php_envelope(b"a:0:{}", b"i:2;"), "php_serial", "status 2 is not a boolean"),
        (SPEC_PHP + b"x", "php_serial", "trailing data"),
    ],
)
def test_malformed_replies(body: bytes, fmt: Format, reason: str) -> None:
    with pytest.raises(ApiMalformedReply) as info:
        decode_envelope(body, fmt)
    assert info.value.message.startswith(f"{fmt} reply: ")
    assert reason in info.value.message


def test_excerpt_is_short_and_printable() -> None:
    body = b"\x00\x1b[31mBAD\r\n\t\xff" + "é".encode() * 500
    with pytest.raises(ApiMalformedReply) as info:
        decode_envelope(body, "json")
    excerpt = info.value.excerpt
    assert len(excerpt) == 120
    assert excerpt.isprintable()
    assert excerpt.startswith("??[31mBAD???\ufffd")


def test_body_over_the_cap_is_refused() -> None:
    with pytest.raises(ApiMalformedReply, match="exceeds the 100-byte cap"):
        decode_envelope(b'{"status":true,"data":"' + b"x" * 100 + b'"}', "json", max_bytes=100)
    assert decode_envelope(SPEC_JSON, "json", max_bytes=len(SPEC_JSON)) == SPEC_ENVELOPE


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        (b"[" * 100_000, "json"),
        (b'{"status":true,"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "json"),
        (b'{"status":true,"data":' + b'{"a":' * 100_000, "json"),
        (b"a:1:{i:0;" * 100_000, "php_serial"),
        (
            _php_envelope(b"N;", b"b:1;", b"a:1:{i:0;" * 100_000 + b"N;" + b"}" * 100_000),
            "php_serial",
        ),
    ],
    ids=["json-open", "json-closed", "json-objects", "php-open", "php-closed"],
)
def test_deep_nesting_is_a_malformed_reply(body: bytes, fmt: Format) -> None:
    started = time.monotonic()
    with pytest.raises(ApiMalformedReply):
        decode_envelope(body, fmt)
    assert time.monotonic() - started < 2.0


def test_unknown_format_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="unknown reply format"):
        decode_envelope(SPEC_JSON, "xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown reply format"):
        encode_envelope([], True, None, "xml")  # type: ignore[arg-type]


# -- encoding ------------------------------------------------------------------------------


def test_encode_keeps_wire_key_order_and_compact_utf8() -> None:
    body = encode_envelope(("é",), True, {"k": [1, 2]}, "json")
    assert body == '{"msgs":["é"],"status":true,"data":{"k":[1,2]}}'.encode()
    assert list(json.loads(body)) == ["msgs", "status", "data"]


def test_encode_refuses_a_bare_string_and_json_nan() -> None:
    with pytest.raises(TypeError, match="not a string"):
        encode_envelope("oops", False, None, "json")
    with pytest.raises(ValueError, match="Out of range float"):
        encode_envelope([], True, float("nan"), "json")


# -- properties ----------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), max_size=10)
# Dict keys that PHP keeps as strings, and no empty dicts: such data means the same in both
# formats, so both must decode it to the same envelope.
_KEY = _TEXT.filter(lambda key: not key.lstrip("-").isdigit())
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _TEXT,
)
_DATA = st.recursive(
    _SCALAR,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_KEY, inner, min_size=1, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(st.lists(_TEXT, max_size=3), st.booleans(), _DATA)
def test_both_formats_roundtrip_to_the_same_envelope(
    msgs: list[str], status: bool, data: Any
) -> None:
    expected = Envelope(msgs=tuple(msgs), status=status, data=data)
    for fmt in FORMATS:
        assert decode_envelope(encode_envelope(msgs, status, data, fmt), fmt) == expected


@FAST
@given(st.binary(max_size=200), st.sampled_from(FORMATS))
def test_arbitrary_bytes_raise_only_malformed_reply(body: bytes, fmt: Format) -> None:
    _decode_or_malformed(body, fmt)


@FAST
@given(st.lists(_TEXT, max_size=3), st.booleans(), _DATA, st.sampled_from(FORMATS), st.data())
def test_mutated_envelopes_raise_only_malformed_reply(
    msgs: list[str], status: bool, data: Any, fmt: Format, draw: st.DataObject
) -> None:
    body = bytearray(encode_envelope(msgs, status, data, fmt))
    for _ in range(draw.draw(st.integers(1, 3))):
        at = draw.draw(st.integers(0, max(len(body) - 1, 0)))
        byte = draw.draw(st.integers(0, 255))
        if draw.draw(st.booleans()):
            body.insert(at, byte)
        else:
            del body[at : at + 1]
    _decode_or_malformed(bytes(body), fmt)


def _decode_or_malformed(body: bytes, fmt: Format) -> None:
    """Decoding may succeed; if it fails, only ApiMalformedReply naming the format."""
    try:
        envelope = decode_envelope(body, fmt)
    except ApiMalformedReply as exc:
        assert exc.message.startswith(f"{fmt} reply: ")
        assert len(exc.excerpt) <= 120
        assert exc.excerpt.isprintable()
    else:
        assert isinstance(envelope.status, bool)
        assert all(isinstance(msg, str) for msg in envelope.msgs)
