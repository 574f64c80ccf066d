"""tossd.toml files for tests: a TOML writer for any value TOML can spell, and the config file.

The writer is the tests' own, not `tossd.config.render`: a config test must not trust the code
it checks to spell its input.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def toml_string(text: str) -> str:
    # JSON escapes are TOML escapes; DEL must be escaped in TOML too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    items = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
    return "{" + items + "}"


def is_table_array(value: Any) -> bool:
    """A non-empty list of tables: written as `[[key]]` blocks."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def toml_document(doc: Mapping[str, Any]) -> str:
    """Top-level keys, then `[tables]`, then `[[arrays of tables]]`."""
    plain = {k: v for k, v in doc.items() if not isinstance(v, dict) and not is_table_array(v)}
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in plain.items()]
    for key, value in doc.items():
        if isinstance(value, dict):
            lines.append(f"[{toml_key(key)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()]
    for key, value in doc.items():
        for item in value if is_table_array(value) else []:
            lines.append(f"[[{toml_key(key)}]]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def write_config_file(
    path: Path,
    *,
    state_dir: Path,
    api: Mapping[str, Any],
    routes: Iterable[Mapping[str, Any]] = (),
    **sections: Mapping[str, Any],
) -> Path:
    """A tossd.toml at `path`: `state_dir`, `[api]`, a table per section, a `[[route]]` each."""
    doc: dict[str, Any] = {"state_dir": str(state_dir), "api": dict(api)}
    doc |= {
        name: [dict(v) for v in values] if is_table_array(values) else dict(values)
        for name, values in sections.items()
    }
    if route_tables := [dict(route) for route in routes]:
        doc["route"] = route_tables
    path.write_text(toml_document(doc), encoding="utf-8")
    return path
