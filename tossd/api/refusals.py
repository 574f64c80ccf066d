"""What a `status:false` means, from its wording: the one place that reads the provider's msgs.

The provider documents one wording (`Required value <field> not set or is empty`); the rest
is inferred, so each rule is loose and anything unrecognised stays a plain `ApiRejected`
(retried on the next poll), the safe reading.
"""

from __future__ import annotations

import re

from tossd.errors import (
    ApiError,
    ApiKeyRejected,
    ApiMissingParameter,
    ApiRateLimited,
    ApiRejected,
    ApiUnsupported,
)
from tossd.text.sanitize import provider_text

_MISSING = re.compile(r"required value (\w+)(?: or (\w+))? not set", re.IGNORECASE)
_RATE = re.compile(r"rate.?limit|too many requests|slow down", re.IGNORECASE)
_UNSUPPORTED = re.compile(
    r"unknown method|invalid method|no such method|method not found"
    r"|not (?:enabled|available|supported|allowed|permitted)|disabled",
    re.IGNORECASE,
)


def mentions_key(msgs: tuple[str, ...]) -> bool:
    """The provider's wording for auth errors is unknown: any message about the key counts."""
    return any("key" in msg.lower() for msg in msgs)


def refusal(method: str, msgs: tuple[str, ...], detail: str) -> ApiError:
    """The error a `status:false` with `msgs` stands for; `detail` is its redacted text.

    The message is the provider's text made inert once, here (no mention, link, markup or
    control character survives): it reaches logs, the CLI and self-alerts. `msgs` stay raw,
    for the wording rules only."""
    message = f"{method}: {provider_text(detail)}"
    text = " ".join(msgs)
    missing = _MISSING.search(text)
    if missing and missing.group(1).lower() not in ("apikey", "key"):
        return ApiMissingParameter(message, msgs=msgs, parameter=missing.group(1))
    if _RATE.search(text):
        return ApiRateLimited(message)
    if mentions_key(msgs):
        return ApiKeyRejected(message, msgs=msgs)
    if _UNSUPPORTED.search(text):
        return ApiUnsupported(message, msgs=msgs)
    return ApiRejected(message, msgs=msgs)
