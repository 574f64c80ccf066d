"""The Tossable Digits API client: the only code that knows the wire format."""

from __future__ import annotations

from tossd.api.client import Client
from tossd.api.models import (
    Audioclip,
    CallRecord,
    CallSummary,
    City,
    Country,
    Extension,
    Feature,
    NumberPool,
    Region,
    Sms,
    TollFree,
    Voicemail,
)

__all__ = [
    "Audioclip",
    "CallRecord",
    "CallSummary",
    "City",
    "Client",
    "Country",
    "Extension",
    "Feature",
    "NumberPool",
    "Region",
    "Sms",
    "TollFree",
    "Voicemail",
]
