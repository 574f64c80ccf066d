"""The reply envelope (`msgs`, `status`, `data`) in both wire formats, json and php_serial."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from tossd.api import phpserial
from tossd.errors import ApiMalformedReply

__all__ = ["MAX_REPLY_BYTES", "Envelope", "Format", "decode_envelope", "encode_envelope"]

Format = Literal["json", "php_serial"]

#: The largest reply read (audio arrives base64 inside it): the transport stops there.
MAX_REPLY_BYTES: Final = 64 * 1024 * 1024
_EXCERPT_CHARS: Final = 120
_INT_KEY: Final = re.compile(r"-?[0-9]{1,19}")
_STATUS_WORDS: Final = {"1": True, "0": False, "true": True, "false": False}


@dataclass(frozen=True, slots=True)
class Envelope:
    """One decoded reply: the provider's messages, its verdict, and the payload as decoded."""

    msgs: tuple[str, ...]
    status: bool
    data: Any


class _Invalid(Exception):
    """A reason the body is no envelope; decode_envelope turns it into ApiMalformedReply."""


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad syntax, bad UTF-8 and over-long ints; RecursionError deep nesting.
        raise _Invalid(f"not JSON ({type(exc).__name__}: {_first_line(exc)})") from exc


def _parse_php(body: bytes) -> Any:
    try:
        return phpserial.loads(body)
    except phpserial.PhpSerialError as exc:
        raise _Invalid(f"not PHP serialize() output ({exc})") from exc


_PARSERS: Final[dict[str, Callable[[bytes], Any]]] = {
    "json": _parse_json,
    "php_serial": _parse_php,
}


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else ""


def _excerpt(body: bytes) -> str:
    # Four bytes per character is the UTF-8 worst case, so this slice always suffices.
    text = body[: _EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:_EXCERPT_CHARS]
    return "".join(char if char.isprintable() else "?" for char in text)


def _msgs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping):
        value = _ordered_values(value)
    if not isinstance(value, list):
        raise _Invalid(f"msgs is a {type(value).__name__}, not a list")
    return tuple(_msg(item) for item in value)


def _ordered_values(value: Mapping[Any, Any]) -> list[Any]:
    """A PHP array with int keys that are not 0..n-1 in order still lists messages."""
    if not all(isinstance(key, str) and _INT_KEY.fullmatch(key) for key in value):
        raise _Invalid("msgs is an object with non-integer keys")
    return [value[key] for key in sorted(value, key=int)]


def _msg(item: Any) -> str:
    if isinstance(item, str):
        return item
    # A PHP message may be a bare number; bool, null and containers are no message.
    if isinstance(item, int | float) and not isinstance(item, bool):
        return str(item)
    raise _Invalid(f"a message is a {type(item).__name__}, not a string")


def _status(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _STATUS_WORDS:
        return _STATUS_WORDS[value.strip().lower()]
    raise _Invalid(f"status {_short_repr(value)} is not a boolean")


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _envelope(top: Any) -> Envelope:
    if not isinstance(top, Mapping):
        raise _Invalid(f"top level is a {type(top).__name__}, not an object")
    if "status" not in top:
        raise _Invalid("no status")
    return Envelope(
        msgs=_msgs(top.get("msgs")), status=_status(top["status"]), data=top.get("data")
    )


def decode_envelope(body: bytes, fmt: Format, *, max_bytes: int = MAX_REPLY_BYTES) -> Envelope:
    """Decode a reply body; any way it is not an envelope raises ApiMalformedReply.

    Unknown top-level keys are ignored; a missing `data` reads as null.
    """
    parse = _PARSERS.get(fmt)
    if parse is None:  # a caller's bug, not the provider's: don't report it as a bad reply
        raise ValueError(f"unknown reply format {fmt!r}")
    try:
        if len(body) > max_bytes:
            raise _Invalid(f"body of {len(body)} bytes exceeds the {max_bytes}-byte cap")
        return _envelope(parse(body))
    except _Invalid as exc:
        raise ApiMalformedReply(f"{fmt} reply: {exc}", excerpt=_excerpt(body)) from exc


def encode_envelope(msgs: Sequence[str], status: bool, data: Any, fmt: Format) -> bytes:
    """Encode an envelope as the provider does, keys in wire order (for the sandbox server).

    JSON refuses NaN and infinities, as PHP's json_encode() does.
    """
    if isinstance(msgs, str):  # a str is a Sequence[str] too, and would split into letters
        raise TypeError("msgs must be a sequence of strings, not a string")
    envelope = {"msgs": list(msgs), "status": bool(status), "data": data}
    if fmt == "json":
        text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode("utf-8")
    if fmt == "php_serial":
        return phpserial.dumps(envelope)
    raise ValueError(f"unknown reply format {fmt!r}")
