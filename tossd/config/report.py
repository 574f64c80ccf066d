"""`[report]`: the nightly usage report: when, in which time zone, for which numbers, to whom."""

from __future__ import annotations

import re
from datetime import time as clock_time

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from tossd.config.problems import problem
from tossd.config.routes import Zone

_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ReportConfig(BaseModel):
    """`[report]`: targets are `notify` plus every route whose `events` lists "report"."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    enabled: bool = True
    #: Local time ("HH:MM") on day D+1 at which the report for day D is sent.
    at: str = "07:00"
    #: IANA name; None means the host's zone.
    timezone: Zone | None = None
    notify: tuple[SecretStr, ...] = ()
    #: DIDs, extension ids (as strings or ints) or aliases; empty means every number.
    extensions: tuple[str | int, ...] = ()
    chart: bool = True

    @field_validator("notify", "extensions", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("at")
    @classmethod
    def _clock(cls, value: str) -> str:
        if _AT.match(value) is None:
            raise problem('expected a 24-hour local time "HH:MM", e.g. "07:00"')
        return value

    @property
    def at_time(self) -> clock_time:
        hours, minutes = self.at.split(":")
        return clock_time(int(hours), int(minutes))

    def urls(self) -> list[str]:
        """The plain Apprise URLs of `notify` (secrets: never log them)."""
        return [url.get_secret_value() for url in self.notify]
