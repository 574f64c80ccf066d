"""A bounded codec for PHP's `serialize()` format: scalars and arrays, never objects."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Final

__all__ = ["PhpSerialError", "dumps", "loads"]


class PhpSerialError(ValueError):
    """The bytes are not a PHP serialize() value this codec accepts."""


# 4300 digits is CPython's default int/str conversion limit; anything longer is no PHP int.
_INT: Final = re.compile(rb"i:([+-]?[0-9]{1,4300});")
_BOOL: Final = re.compile(rb"b:([01]);")
# PHP's own grammar for `d:` (var_unserializer.re): plain, fraction, exponent, INF and NAN.
_FLOAT: Final = re.compile(
    rb"d:([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|-?INF|NAN);"
)
# Lengths and counts are capped at 20 digits so a hostile header cannot cost a big-int parse.
_STR_HEAD: Final = re.compile(rb's:([0-9]{1,20}):"')
_ARRAY_HEAD: Final = re.compile(rb"a:([0-9]{1,20}):\{")
# PHP turns a string key that reads as a canonical 64-bit int into an int key.
_INT_KEY: Final = re.compile(r"0|-?[1-9][0-9]{0,18}")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
# The shortest array entry is `i:0;N;`, so a count above remaining/6 cannot be honest.
_MIN_ENTRY_BYTES: Final = 6
_REJECTED: Final = {
    b"O:": "objects",
    b"C:": "custom-serialized objects",
    b"E:": "enums",
    b"r:": "references",
    b"R:": "references",
    b"S:": "escaped strings",
}


def _int_key(text: str) -> int | None:
    """The int PHP would use for this string key, or None if it stays a string."""
    if _INT_KEY.fullmatch(text) is None:
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


class _Frame:
    """An array being read: its entries so far and how many are still to come."""

    __slots__ = ("key", "keys", "left", "values")

    def __init__(self, count: int) -> None:
        self.left = count
        self.key: int | str = 0
        self.keys: list[int | str] = []
        self.values: list[Any] = []

    def add(self, value: Any) -> None:
        self.keys.append(self.key)
        self.values.append(value)
        self.left -= 1

    def build(self) -> list[Any] | dict[str, Any]:
        if self.keys == list(range(len(self.keys))):
            return self.values
        # Duplicate keys: the later one wins, as in PHP.
        return {str(key): value for key, value in zip(self.keys, self.values, strict=True)}


_OPENED: Final = object()  # _read_value's answer when it has pushed a new array frame


class _Parser:
    """Reads one value with an explicit stack, so nesting never touches Python's recursion."""

    def __init__(self, data: bytes, max_depth: int, max_items: int) -> None:
        self.data = data
        self.pos = 0
        self.items = 0
        self.max_depth = max_depth
        self.max_items = max_items
        self.stack: list[_Frame] = []
        self.readers: dict[bytes, Callable[[], Any]] = {
            b"N;": self._read_null,
            b"b:": self._read_bool,
            b"i:": self._read_int,
            b"d:": self._read_float,
            b"s:": self._read_str,
            b"a:": self._open_array,
        }

    def error(self, reason: str, offset: int | None = None) -> PhpSerialError:
        return PhpSerialError(f"{reason} at byte {self.pos if offset is None else offset}")

    def run(self) -> Any:
        value = self._read_value()
        while self.stack or value is _OPENED:
            if value is not _OPENED:
                self.stack[-1].add(value)
            value = self._advance()
        if self.pos != len(self.data):
            raise self.error("trailing data")
        return value

    def _advance(self) -> Any:
        frame = self.stack[-1]
        if frame.left == 0:
            if self.data[self.pos : self.pos + 1] != b"}":
                raise self.error("expected '}'")
            self.pos += 1
            self.stack.pop()
            return frame.build()
        frame.key = self._read_key()
        return self._read_value()

    def _read_value(self) -> Any:
        tag = bytes(self.data[self.pos : self.pos + 2])
        reader = self.readers.get(tag)
        if reader is None:
            raise self._bad_tag(tag)
        self.items += 1
        if self.items > self.max_items:
            raise self.error(f"more than {self.max_items} items")
        return reader()

    def _bad_tag(self, tag: bytes) -> PhpSerialError:
        if not tag:
            return self.error("unexpected end of input")
        if tag in _REJECTED:
            return self.error(f"{_REJECTED[tag]} are not supported")
        return self.error(f"unexpected token {tag!r}")

    def _read_key(self) -> int | str:
        tag = self.data[self.pos : self.pos + 2]
        if tag == b"i:":
            return int(self._read_int())
        if tag == b"s:":
            text = self._read_str()
            number = _int_key(text)
            return text if number is None else number
        raise self.error("array key must be an int or a string")

    def _match(self, pattern: re.Pattern[bytes], what: str) -> re.Match[bytes]:
        match = pattern.match(self.data, self.pos)
        if match is None:
            raise self.error(f"malformed {what}")
        self.pos = match.end()
        return match

    def _read_null(self) -> None:
        self.pos += 2

    def _read_bool(self) -> bool:
        return self._match(_BOOL, "bool").group(1) == b"1"

    def _read_int(self) -> int:
        start = self.pos
        digits = self._match(_INT, "int").group(1)
        try:
            return int(digits)
        except ValueError:  # the interpreter's int/str digit limit may be set lower
            raise self.error("int too long", start) from None

    def _read_float(self) -> float:
        text = self._match(_FLOAT, "float").group(1)
        special = {b"INF": math.inf, b"-INF": -math.inf, b"NAN": math.nan}
        return special[text] if text in special else float(text)

    def _read_str(self) -> str:
        start = self.pos
        length = int(self._match(_STR_HEAD, "string").group(1))
        # Check the declared length against what is left before slicing anything.
        if length > len(self.data) - self.pos - 2:
            raise self.error(f"string length {length} exceeds the input", start)
        end = self.pos + length
        if self.data[end : end + 2] != b'";':
            raise self.error("string not terminated by '\";'", end)
        raw = bytes(self.data[self.pos : end])
        self.pos = end + 2
        return raw.decode("utf-8", errors="replace")

    def _open_array(self) -> object:
        start = self.pos
        count = int(self._match(_ARRAY_HEAD, "array").group(1))
        if len(self.stack) >= self.max_depth:
            raise self.error(f"arrays nested deeper than {self.max_depth}", start)
        if count > (len(self.data) - self.pos - 1) // _MIN_ENTRY_BYTES:
            raise self.error(f"array count {count} exceeds the input", start)
        if self.items + count > self.max_items:
            raise self.error(f"more than {self.max_items} items", start)
        self.stack.append(_Frame(count))
        return _OPENED


def loads(data: bytes, *, max_depth: int = 32, max_items: int = 1_000_000) -> Any:
    """Decode one serialized PHP value; any problem raises PhpSerialError naming the offset.

    Arrays keyed exactly 0..n-1 in order become lists, other arrays dicts with str keys.
    """
    return _Parser(data, max_depth, max_items).run()


def dumps(value: Any, *, max_depth: int = 32) -> bytes:
    """Encode a value as PHP's serialize() would; TypeError for what PHP arrays cannot hold.

    `max_depth` matches loads' default, so whatever this writes, loads reads back; it also
    turns a cyclic structure into a ValueError instead of a RecursionError.
    """
    out: list[bytes] = []
    _dump(value, out, max_depth)
    return b"".join(out)


def _dump(value: Any, out: list[bytes], depth: int) -> None:
    scalar = _dump_scalar(value)
    if scalar is not None:
        out.append(scalar)
        return
    if depth <= 0:
        raise ValueError("value nested too deeply for dumps()")
    if isinstance(value, list | tuple):
        entries: list[tuple[int | str, Any]] = list(enumerate(value))
    elif isinstance(value, dict):
        entries = _dict_entries(value)
    else:
        raise TypeError(f"cannot serialize {type(value).__name__}")
    out.append(b"a:%d:{" % len(entries))
    for key, item in entries:
        out.append(_dump_key(key))
        _dump(item, out, depth - 1)
    out.append(b"}")


def _dump_scalar(value: Any) -> bytes | None:
    if value is None:
        return b"N;"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return b"b:1;" if value else b"b:0;"
    if isinstance(value, int):
        return b"i:%d;" % value
    if isinstance(value, float):
        return b"d:" + _float_text(value) + b";"
    if isinstance(value, str):
        return _dump_bytes(value.encode("utf-8"))
    if isinstance(value, bytes | bytearray):
        return _dump_bytes(bytes(value))
    return None


def _float_text(value: float) -> bytes:
    if math.isnan(value):
        return b"NAN"
    if math.isinf(value):
        return b"INF" if value > 0 else b"-INF"
    # repr() is the shortest round-tripping form, which is what PHP >= 7.1 writes.
    return repr(float(value)).encode("ascii")


def _dump_bytes(raw: bytes) -> bytes:
    return b's:%d:"%s";' % (len(raw), raw)


def _dict_entries(value: dict[Any, Any]) -> list[tuple[int | str, Any]]:
    entries: list[tuple[int | str, Any]] = []
    seen: set[int | str] = set()
    for key, item in value.items():
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise TypeError(f"cannot serialize a {type(key).__name__} array key")
        normal = _normal_key(key)
        if normal in seen:
            raise ValueError(f"array key {key!r} collides with another key")
        seen.add(normal)
        entries.append((normal, item))
    return entries


def _normal_key(key: int | str) -> int | str:
    if isinstance(key, int):
        return int(key)
    number = _int_key(key)
    return key if number is None else number


def _dump_key(key: int | str) -> bytes:
    return b"i:%d;" % key if isinstance(key, int) else _dump_bytes(key.encode("utf-8"))
