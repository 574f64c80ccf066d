"""Tests for the bounded PHP serialize() codec."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tossd.api.phpserial import PhpSerialError, dumps, loads

SPEC_VALUE = {"msgs": ["Required value forward not set or is empty"], "status": False, "data": None}
SPEC_PHP = (
    b'a:3:{s:4:"msgs";a:1:{i:0;s:42:"Required value forward not set or is empty";}'
    b's:6:"status";b:0;s:4:"data";N;}'
)
FAST = settings(max_examples=250, deadline=None)
DEEP = 100_000


# -- loads: every type ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"N;", None),
        (b"b:0;", False),
        (b"b:1;", True),
        (b"i:0;", 0),
        (b"i:-5;", -5),
        (b"i:+7;", 7),
        (b"i:9223372036854775807;", 2**63 - 1),
        (b"d:0.05;", 0.05),
        (b"d:-1.5E3;", -1500.0),
        (b"d:1e+16;", 1e16),
        (b"d:.5;", 0.5),
        (b"d:1.;", 1.0),
        (b"d:7;", 7.0),
        (b"d:INF;", math.inf),
        (b"d:-INF;", -math.inf),
        (b's:0:"";', ""),
        (b's:5:"hello";', "hello"),
        ('s:2:"é";'.encode(), "é"),  # length counts bytes, not characters
        (b's:4:"a";b";', 'a";b'),  # the length, not a quote, ends the string
        (b's:2:"\xffA";', "\ufffdA"),  # bad UTF-8 is replaced, not fatal
        (b"a:0:{}", []),
        (b'a:2:{i:0;s:1:"a";i:1;s:1:"b";}', ["a", "b"]),
        (b'a:2:{i:1;s:1:"a";i:0;s:1:"b";}', {"1": "a", "0": "b"}),
        (b"a:1:{i:1;N;}", {"1": None}),
        (b'a:1:{s:1:"x";i:1;}', {"x": 1}),
        (b'a:1:{s:1:"0";N;}', [None]),  # PHP makes "0" an int key
        (b'a:1:{s:2:"00";N;}', {"00": None}),  # ...but not "00"
        (b'a:2:{s:1:"k";i:1;s:1:"k";i:2;}', {"k": 2}),  # a repeated key: the last one wins
        (b"a:1:{i:0;a:1:{i:0;a:0:{}}}", [[[]]]),
        (SPEC_PHP, SPEC_VALUE),
    ],
)
def test_loads_decodes_each_type(data: bytes, expected: Any) -> None:
    assert loads(data) == expected


def test_loads_decodes_nan() -> None:
    assert math.isnan(loads(b"d:NAN;"))


# -- loads: every error --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [
        (b"", "unexpected end of input", 0),
        (b"X;", "unexpected token", 0),
        (b"N", "unexpected token", 0),
        (b"b:2;", "malformed bool", 0),
        (b"i:;", "malformed int", 0),
        (b"i:1", "malformed int", 0),
        (b"i:1.5;", "malformed int", 0),
        (b"i:" + b"1" * 5000 + b";", "malformed int", 0),
        (b"d:abc;", "malformed float", 0),
        (b"d:inf;", "malformed float", 0),
        (b"d:1e;", "malformed float", 0),
        (b's:-1:"";', "malformed string", 0),
        (b's:5:"abc";', "exceeds the input", 0),
        (b's:1:"ab";', "not terminated", 6),
        (b's:99999999999999999999:"', "exceeds the input", 0),
        (b"a:1:{}", "exceeds the input", 0),
        (b"a:99999999999999999999:{", "exceeds the input", 0),
        (b"a:1:{N;N;N;}", "array key", 5),
        (b"a:1:{d:1.0;N;}", "array key", 5),
        (b"a:1:{i:0;i:0;", "expected '}'", 13),
        (b"a:0:{;", "expected '}'", 5),
        (b"a:1:{i:0;N;N;}", "expected '}'", 11),
        (b"a:1:{i:0;N;}N;", "trailing data", 12),
        (b"N;x", "trailing data", 2),
        (b'O:8:"stdClass":0:{}', "objects are not supported", 0),
        (b'C:3:"Foo":0:{}', "custom-serialized objects", 0),
        (b'E:7:"Foo:Bar";', "enums", 0),
        (b"a:2:{i:0;N;i:1;r:1;}", "references", 15),
        (b"a:2:{i:0;N;i:1;R:1;}", "references", 15),
        (b'S:1:"\\61";', "escaped strings", 0),
    ],
)
def test_loads_rejects_with_offset(data: bytes, reason: str, offset: int) -> None:
    with pytest.raises(PhpSerialError) as info:
        loads(data)
    assert isinstance(info.value, ValueError)  # callers that only know ValueError catch it too
    assert reason in str(info.value)
    assert str(info.value).endswith(f"at byte {offset}")


@pytest.mark.parametrize(("depth", "max_depth", "ok"), [(3, 3, True), (3, 2, False), (1, 0, False)])
def test_max_depth(depth: int, max_depth: int, ok: bool) -> None:
    data = b"a:1:{i:0;" * depth + b"N;" + b"}" * depth
    if ok:
        assert loads(data, max_depth=max_depth) == _nest(None, depth)
    else:
        with pytest.raises(PhpSerialError, match="nested deeper than"):
            loads(data, max_depth=max_depth)


@pytest.mark.parametrize(("max_items", "ok"), [(4, True), (3, False)])
def test_max_items_counts_every_value(max_items: int, ok: bool) -> None:
    data = b"a:3:{i:0;N;i:1;N;i:2;N;}"
    if ok:
        assert loads(data, max_items=max_items) == [None, None, None]
    else:
        with pytest.raises(PhpSerialError, match="more than 3 items"):
            loads(data, max_items=max_items)


@pytest.mark.parametrize(
    "data",
    [
        b"a:1:{i:0;" * DEEP,
        b"a:1:{i:0;" * DEEP + b"N;" + b"}" * DEEP,
        b'a:1:{s:1:"k";' * DEEP,
    ],
    ids=["unclosed", "closed", "string-keys"],
)
def test_deep_nesting_fails_fast(data: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(PhpSerialError, match="nested deeper than 32"):
        loads(data)
    assert time.monotonic() - started < 1.0


def _nest(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


# -- dumps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, b"N;"),
        (False, b"b:0;"),
        (True, b"b:1;"),
        (42, b"i:42;"),
        (-7, b"i:-7;"),
        (0.05, b"d:0.05;"),
        (-0.0, b"d:-0.0;"),
        (1e16, b"d:1e+16;"),
        (math.inf, b"d:INF;"),
        (-math.inf, b"d:-INF;"),
        (math.nan, b"d:NAN;"),
        ("", b's:0:"";'),
        ("é", 's:2:"é";'.encode()),
        (b"\x00\xff", b's:2:"\x00\xff";'),
        ([], b"a:0:{}"),
        (("a", 1), b'a:2:{i:0;s:1:"a";i:1;i:1;}'),
        ({}, b"a:0:{}"),
        ({"5": "x"}, b'a:1:{i:5;s:1:"x";}'),  # decimal string keys are int keys, as in PHP
        ({"-3": 1}, b"a:1:{i:-3;i:1;}"),
        ({"05": 1}, b'a:1:{s:2:"05";i:1;}'),
        ({"99999999999999999999": 1}, b'a:1:{s:20:"99999999999999999999";i:1;}'),
        ({7: None}, b"a:1:{i:7;N;}"),
        (SPEC_VALUE, SPEC_PHP),
    ],
)
def test_dumps_writes_php_format(value: Any, expected: bytes) -> None:
    assert dumps(value) == expected


@pytest.mark.parametrize(
    "value",
    [{1, 2}, object(), 1j, {(1, 2): 1}, {True: 1}, {1.5: 1}, [frozenset()]],
    ids=["set", "object", "complex", "tuple-key", "bool-key", "float-key", "nested-set"],
)
def test_dumps_rejects_unsupported_types(value: Any) -> None:
    with pytest.raises(TypeError, match="cannot serialize"):
        dumps(value)


def test_dumps_rejects_colliding_keys() -> None:
    with pytest.raises(ValueError, match="collides"):
        dumps({0: "a", "0": "b"})


def test_dumps_rejects_cycles_and_excess_depth() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="nested too deeply"):
        dumps(cyclic)
    assert dumps(_nest(None, 3), max_depth=3) == b"a:1:{i:0;" * 3 + b"N;" + b"}" * 3
    with pytest.raises(ValueError, match="nested too deeply"):
        dumps(_nest(None, 33))


# -- properties ----------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT
_JSON_LIKE = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=25,
)
_INT_KEY = re.compile(r"0|-?[1-9][0-9]{0,18}")


def _as_php(value: Any) -> Any:
    """What PHP hands back: int-looking keys become ints, and arrays keyed 0..n-1 lists."""
    if isinstance(value, list | tuple):
        return [_as_php(item) for item in value]
    if not isinstance(value, dict):
        return value
    keys = [_php_key(key) for key in value]
    items = [_as_php(item) for item in value.values()]
    if keys == list(range(len(keys))):
        return items
    return {str(key): item for key, item in zip(keys, items, strict=True)}


def _php_key(key: str) -> int | str:
    if _INT_KEY.fullmatch(key) and -(2**63) <= int(key) < 2**63:
        return int(key)
    return key


@FAST
@given(_JSON_LIKE)
def test_roundtrip(value: Any) -> None:
    assert loads(dumps(value, max_depth=100), max_depth=100) == _as_php(value)


@FAST
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_the_typed_error(data: bytes) -> None:
    _loads_or_typed_error(data)


_TOKENS = [b"N;", b"b:1;", b"i:0;", b"i:", b"d:", b"1", b"-", b".", b"e", b"INF", b";", b":"]
_TOKENS += [b"a:", b"a:1:{", b"a:2:{", b"{", b"}", b's:1:"', b"s:", b'"', b'";', b"O:", b"r:1;"]


@FAST
@given(st.lists(st.sampled_from(_TOKENS), max_size=40).map(b"".join))
def test_token_soup_raises_only_the_typed_error(data: bytes) -> None:
    _loads_or_typed_error(data)


@FAST
@given(_JSON_LIKE, st.data())
def test_mutated_encodings_raise_only_the_typed_error(value: Any, data: st.DataObject) -> None:
    encoded = bytearray(dumps(value, max_depth=100))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(encoded)))
        op = data.draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        byte = data.draw(st.integers(0, 255))
        if op == "delete":
            del encoded[at : at + 1]
        elif op == "insert":
            encoded.insert(at, byte)
        elif op == "replace" and at < len(encoded):
            encoded[at] = byte
        else:
            del encoded[at:]
    _loads_or_typed_error(bytes(encoded))


def _loads_or_typed_error(data: bytes) -> None:
    """Decoding may succeed; if it fails, only PhpSerialError, with an offset inside the input."""
    try:
        loads(data)
    except PhpSerialError as exc:
        match = re.search(r"at byte (\d+)$", str(exc))
        assert match is not None, str(exc)
        assert 0 <= int(match.group(1)) <= len(data)
