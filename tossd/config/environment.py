"""Settings from the environment: `TOSSD_API__MAX_CONCURRENCY=4` sets `[api] max_concurrency`.

Every key can be set this way: `TOSSD_` then the key path, sections joined by `__`
(`TOSSD_STATE_DIR`, `TOSSD_POLL__STREAMS='["sms"]'`, even `TOSSD_ROUTE` as an inline TOML
array of tables). A value is read as TOML (`4`, `true`, `["a", "b"]`) except for keys that
take text, which get it as written (no quotes needed). The environment overrides the file.
`$TOSSD_CONFIG` and `$TOSSD_API_KEY` keep their own meanings (the file; a key fallback).
"""

from __future__ import annotations

import difflib
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from tossd.config.problems import model_in
from tossd.errors import ConfigError

PREFIX = "TOSSD_"
SEPARATOR = "__"
#: Variables of tossd's that are not key paths.
_NOT_KEYS = frozenset({"TOSSD_CONFIG", "TOSSD_API_KEY", "TOSSD_CONFIG_FILE"})
_TEXT_TYPES: tuple[type, ...] = (str, SecretStr, Path)


def settings_from_env(
    env: Mapping[str, str], model: type[BaseModel]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings `env` gives, as a nested table, and each dotted key path's variable."""
    settings: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name in sorted(env):
        path = _key_path(name, model)
        if path is None:
            continue
        annotation = _field(model, path[:-1]).model_fields[path[-1]].annotation
        table = settings
        for part in path[:-1]:
            table = table.setdefault(part, {})
        table[path[-1]] = _value(env[name], annotation)
        origins[".".join(path)] = name
    return settings, origins


def merged(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `top`'s keys on it, tables merged key by key."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = merged(below, value)
        elif isinstance(value, Mapping) and isinstance(below, list):
            # `[[report]]` in the file, `$TOSSD_REPORT__AT` in the environment: which table
            # would it set? Replacing them all with one would drop reports without a word.
            raise ConfigError(
                f"{key}: the file has [[{key}]] tables; set them whole with ${PREFIX}{key.upper()}"
            )
        else:
            out[key] = value
    return out


def _key_path(name: str, model: type[BaseModel]) -> list[str] | None:
    """`TOSSD_API__TIMEOUT_S` -> ["api", "timeout_s"]; None for variables that are not
    settings; a ConfigError for one that looks like a setting but names no key."""
    if not name.startswith(PREFIX) or name in _NOT_KEYS:
        return None
    path = name.removeprefix(PREFIX).lower().split(SEPARATOR)
    if len(path) == 1 and path[0] not in model.model_fields:
        # TOSSD_SOMETHING without `__`: another tool's variable, unless it is a top-level key.
        return None
    current = model
    for depth, part in enumerate(path):
        known = current.model_fields
        if part not in known:
            close = difflib.get_close_matches(part, list(known), n=1)
            spelled = (
                PREFIX + SEPARATOR.join(p.upper() for p in (*path[:depth], close[0]))
                if close
                else ""
            )
            hint = f" (did you mean ${spelled}?)" if close else ""
            raise ConfigError(f"${name}: no such setting{hint}")
        if depth < len(path) - 1:
            inner = model_in(known[part].annotation)
            if inner is None or _is_array(known[part].annotation):
                raise ConfigError(f"${name}: {'.'.join(path[: depth + 1])} has no keys below it")
            current = inner
    return path


def _field(model: type[BaseModel], path: list[str]) -> type[BaseModel]:
    for part in path:
        inner = model_in(model.model_fields[part].annotation)
        assert inner is not None  # checked by _key_path
        model = inner
    return model


def _value(text: str, annotation: Any) -> Any:
    """Text as written for keys that take text; else the TOML value it spells (left as text
    when it spells none, so the error says what the key wants)."""
    if _takes_text(annotation):
        return text
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _is_array(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (tuple, list)


def _takes_text(annotation: Any) -> bool:
    """A str, a secret, a path or a choice of words (optional or not); no number or array."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _takes_text(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return all(isinstance(arg, str) for arg in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return all(_takes_text(arg) for arg in args)
    return isinstance(annotation, type) and issubclass(annotation, _TEXT_TYPES)
