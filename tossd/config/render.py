"""How configuration is shown to people: a small TOML emitter, masked secrets, error paths."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from pydantic import SecretBytes, SecretStr

from tossd.config.routes import NamedTarget
from tossd.errors import ConfigError
from tossd.text.masking import SECRET_MASK as MASK
from tossd.text.masking import mask_api_url, mask_password

if TYPE_CHECKING:
    from tossd.config.model import Config

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def dumps(data: Mapping[str, Any], comments: Mapping[str, str] | None = None) -> str:
    """Render `data` as TOML; `comments` maps a dotted key path to a comment put above it.

    `None` values have no TOML spelling, so they are shown as a comment (`# key: not set`).
    """
    lines: list[str] = []
    _emit_table(lines, (), data, comments or {})
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines) + "\n"


def _emit_table(
    lines: list[str], path: tuple[str, ...], table: Mapping[str, Any], comments: Mapping[str, str]
) -> None:
    # TOML requires a table's own keys before any sub-table header, or they would land in it.
    subtables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    arrays = [(k, v) for k, v in table.items() if _is_array_of_tables(v)]
    nested = {k for k, _ in subtables} | {k for k, _ in arrays}
    for key, value in table.items():
        if key in nested:
            continue
        comment = comments.get(".".join((*path, key)))
        if comment is not None:
            lines.append(f"# {comment}")
        if value is None:
            lines.append(f"# {format_key(key)}: not set")
        else:
            lines.append(f"{format_key(key)} = {format_value(value)}")
    for key, value in subtables:
        lines.extend(("", f"[{_header((*path, key))}]"))
        _emit_table(lines, (*path, key), value, comments)
    for key, items in arrays:
        for item in items:
            lines.extend(("", f"[[{_header((*path, key))}]]"))
            _emit_table(lines, (*path, key), item, comments)


def _is_array_of_tables(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(item, Mapping) for item in value)
    )


def _header(path: tuple[str, ...]) -> str:
    return ".".join(format_key(part) for part in path)


def format_key(key: str) -> str:
    """A bare key when TOML allows one, else a quoted key."""
    return key if _BARE_KEY.fullmatch(key) else format_string(key)


def format_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def format_value(value: Any) -> str:
    """One TOML value written inline (arrays and tables included)."""
    # bool before int: bool is a subclass of int, and TOML spells it differently.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, str):
        return format_string(value)
    if isinstance(value, PurePath):
        return format_string(str(value))
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        items = ", ".join(f"{format_key(k)} = {format_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    raise TypeError(f"no TOML spelling for {type(value).__name__}")


def _format_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    # repr is the shortest round-tripping form and always valid TOML ("30.0", "1e-05").
    return repr(value)


def render_effective(config: Config, shown_url: Callable[[str], str] | None = None) -> str:
    """The effective configuration as TOML, secrets shown as `********` (`tossd config check`).

    `shown_url` shows a notify URL with only its secrets masked (Apprise knows which parts
    are); without it, each URL is masked whole."""
    data = _masked(config.model_dump(mode="python"))
    if shown_url is not None:
        for item, route in zip(data["route"], config.route, strict=True):
            item["notify"] = [_shown_target(entry, shown_url) for entry in route.notify]
        shown = [[shown_url(u.get_secret_value()) for u in r.notify] for r in config.reports]
        if isinstance(data["report"], dict):
            data["report"]["notify"] = shown[0]
        else:
            for item, notify in zip(data["report"], shown, strict=True):
                item["notify"] = notify
    comments = {}
    # The key's source replaces key_file in the output: the file path shows in the comment.
    del data["api"]["key_file"]
    try:
        config.api.require_key()
    except ConfigError as exc:
        data["api"]["key"] = None
        comments["api.key"] = exc.message.removeprefix("api.key: ")
    else:
        data["api"]["key"] = MASK
        comments["api.key"] = f"key from {config.api.key_source}"
    data["store"]["url"] = mask_password(config.store_url)
    # A user or token in the API's URL is as secret as the key.
    data["api"]["url"] = mask_api_url(config.api.url)
    data["transcribe"]["base_url"] = mask_api_url(config.transcribe.base_url)
    if config.store.url is None:
        comments["store.url"] = "default: tossd.db in state_dir"
    return "# tossd effective configuration (secrets masked)\n\n" + dumps(data, comments)


def _shown_target(entry: SecretStr | NamedTarget, shown_url: Callable[[str], str]) -> Any:
    if isinstance(entry, NamedTarget):
        return {"name": entry.name, "url": shown_url(entry.url.get_secret_value())}
    return shown_url(entry.get_secret_value())


def _masked(value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if isinstance(value, Mapping):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value
