"""How configuration errors are worded: one `dotted.key.path: reason` each, in TOML's terms,
never the value."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

#: pydantic's words for Python types, said in TOML's (a TOML user writes arrays and tables).
_TOML_WORDS = {
    "tuple_type": 'must be an array, e.g. ["a", "b"]',
    "list_type": 'must be an array, e.g. ["a", "b"]',
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "string_type": "must be a string (in quotes)",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "missing": "required, but not set",
}


def problem(reason: str, subkey: str | None = None) -> PydanticCustomError:
    """A validation problem; `subkey` names the key when a model-level check finds it."""
    context = {"reason": reason} if subkey is None else {"reason": reason, "subkey": subkey}
    return PydanticCustomError("tossd_config", "{reason}", context)


def describe_errors(
    exc: ValidationError,
    *,
    model: type[BaseModel] | None = None,
    route_names: Sequence[str] = (),
    origins: Mapping[str, str] | None = None,
) -> list[str]:
    """One `dotted.key.path: reason` per error, never quoting the input value.

    `model` lets an unknown key be answered with "did you mean"; `route_names` names each
    `[[route]]` by its name rather than its place; `origins` maps a dotted key path to where
    it was set when not in the file (an environment variable).
    """
    errors = exc.errors(include_url=False, include_input=False)
    problems = []
    for error in _without_echoes(errors):
        loc = list(error["loc"])
        subkey = (error.get("ctx") or {}).get("subkey")
        if subkey:
            loc.append(subkey)
        path = _dotted(loc)
        where = _dotted(loc, route_names)
        origin = (origins or {}).get(path)
        if origin:
            where += f" (from ${origin})"
        problems.append(f"{where}: {_reason(error, loc, model)}")
    return problems


def _without_echoes(errors: list[ErrorDetails]) -> Iterator[ErrorDetails]:
    """A bad item of a list also fails the list's minimum length: say only the first."""
    items = {tuple(e["loc"][:-1]) for e in errors if e["loc"] and isinstance(e["loc"][-1], int)}
    for error in errors:
        if error["type"] == "too_short" and tuple(error["loc"]) in items:
            continue
        yield error


def _reason(error: ErrorDetails, loc: list[int | str], model: type[BaseModel] | None) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key" + _suggestion(loc, model)
    if kind == "too_short":
        least = (error.get("ctx") or {}).get("min_length", 1)
        return f"must list at least {least} item{'s' if least != 1 else ''}"
    if kind in ("enum", "literal_error"):
        return f"must be one of {(error.get('ctx') or {}).get('expected', '')}"
    return _TOML_WORDS.get(kind, error["msg"])


def _suggestion(loc: list[int | str], model: type[BaseModel] | None) -> str:
    if model is None or not loc or not isinstance(loc[-1], str):
        return ""
    known = known_keys(model, loc[:-1])
    close = difflib.get_close_matches(loc[-1], known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def known_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys a table at `loc` (below `model`) accepts; [] when `loc` is not a table."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int) or _is_form_tag(part):
            continue
        field = current.model_fields.get(part)
        current = None if field is None else model_in(field.annotation)
    return sorted(current.model_fields) if current is not None else []


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, itself or as the items of an array (or optional)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return model_in(typing.get_args(annotation)[0])
    if origin in (tuple, list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = model_in(arg)
            if found is not None:
                return found
    return None


def _is_form_tag(part: int | str) -> bool:
    """A union form's tag (`Tag("<url>")`): pydantic puts it in the path; people need not."""
    return isinstance(part, str) and part.startswith("<") and part.endswith(">")


def route_label(name: str) -> str:
    """How an error names a `[[route]]`: by its name (`route-2` when it was given none)."""
    return f'route "{name}"'


def _dotted(loc: list[int | str], route_names: Sequence[str] = ()) -> str:
    text = ""
    for position, part in enumerate(loc):
        if _is_form_tag(part):
            continue
        if isinstance(part, int):
            named = position == 1 and loc[0] == "route" and part < len(route_names)
            text = route_label(route_names[part]) if named else text + f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"
