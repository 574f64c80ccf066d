"""How configuration errors are worded: one `dotted.key.path: reason` each, never the value."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import PydanticCustomError


def problem(reason: str, subkey: str | None = None) -> PydanticCustomError:
    """A validation problem; `subkey` names the key when a model-level check finds it."""
    context = {"reason": reason} if subkey is None else {"reason": reason, "subkey": subkey}
    return PydanticCustomError("tossd_config", "{reason}", context)


def describe_errors(exc: ValidationError) -> list[str]:
    """One `dotted.key.path: reason` per error, never quoting the input value."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = list(error["loc"])
        subkey = (error.get("ctx") or {}).get("subkey")
        if subkey:
            loc.append(subkey)
        reason = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{_dotted(loc)}: {reason}")
    return problems


def _is_form_tag(part: int | str) -> bool:
    """A union form's tag (`Tag("<url>")`): pydantic puts it in the path; people need not."""
    return isinstance(part, str) and part.startswith("<") and part.endswith(">")


def _dotted(loc: list[int | str]) -> str:
    text = ""
    for part in loc:
        if _is_form_tag(part):
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"
