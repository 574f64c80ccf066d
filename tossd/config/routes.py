"""`[[route]]` and `[delivery]`: who is told about what, and how hard tossd tries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time as clock_time
from pathlib import Path
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Strict,
    Tag,
    field_validator,
    model_validator,
)

from tossd.config.naming import named_by_place, repeated_name
from tossd.config.problems import problem
from tossd.domain import MIB, Notice
from tossd.retry import RetryPolicy

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: A size in MiB (1 MB = 1,048,576 bytes, as mail servers count attachment limits).
Megabytes = Annotated[float, Field(gt=0, allow_inf_nan=False)]

_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class QuietHours:
    """A daily window in local time; `start > end` means it spans midnight (22:00-07:00)."""

    start: clock_time
    end: clock_time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = _QUIET.match(text.replace(" ", ""))
        if match is None:
            raise ValueError('expected "HH:MM-HH:MM", e.g. "22:00-07:00"')
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if (h1, m1) == (h2, m2):
            raise ValueError("start and end are equal: the window would be empty")
        return cls(clock_time(h1, m1), clock_time(h2, m2))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _zone(value: object) -> object:
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise problem(f"unknown time zone {value!r} (use an IANA name)") from None
    return value


Zone = Annotated[str, BeforeValidator(_zone)]


class NamedTarget(BaseModel):
    """`{ name = "ops-mail", url = "..." }` in `notify`: the name is the target's identity in
    the ledger, so rows owed to it follow any later edit of its URL (host, port, password,
    token), and even a move to another position in the list."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=64)
    url: SecretStr


def _target_form(value: object) -> str:
    return "<named>" if isinstance(value, dict | NamedTarget) else "<url>"


#: A `notify` entry: a plain URL, or `{ name, url }`; an error names only the form given.
NotifyEntry = Annotated[
    Annotated[SecretStr, Tag("<url>")] | Annotated[NamedTarget, Tag("<named>")],
    Discriminator(_target_form),
]


class RouteConfig(BaseModel):
    """One `[[route]]`: these events, from these numbers, to these Apprise targets."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    #: Optional in the file: an unnamed route is `route-N`, N its place (1, 2, ...) in the file.
    name: str = Field(min_length=1, max_length=64)
    # Lax: TOML gives strings, which become the enum's members.
    events: tuple[Annotated[Notice, Strict(False)], ...] = Field(min_length=1)
    #: DIDs, extension ids (as strings or ints) or aliases; empty means every number.
    extensions: tuple[str | int, ...] = ()
    #: Apprise URLs, each a string or a `NamedTarget` table.
    notify: tuple[NotifyEntry, ...] = ()
    notify_config: Path | None = Field(default=None, strict=False)
    tags: tuple[str, ...] = ()
    attach_audio: bool = True
    #: With both "call" and "voicemail" in `events`, a call that reached voicemail is
    #: announced once, as the voicemail (with its audio); false announces both.
    fold_voicemail_calls: bool = True
    title_template: str | None = None
    body_template: str | None = None
    quiet_hours: str | None = None
    timezone: Zone | None = None

    @field_validator("events", "extensions", "notify", "tags", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                QuietHours.parse(value)
            except ValueError as exc:
                raise problem(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _has_targets(self) -> Self:
        if not self.notify and self.notify_config is None:
            raise problem("set notify (Apprise URLs) and/or notify_config", "notify")
        if self.tags and self.notify_config is None:
            raise problem("tags select targets of notify_config; set notify_config", "tags")
        names = [t.name for t in self.notify if isinstance(t, NamedTarget)]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise problem(f"target name {twice[0]!r} is used twice in this route", "notify")
        return self

    @property
    def quiet(self) -> QuietHours | None:
        return None if self.quiet_hours is None else QuietHours.parse(self.quiet_hours)

    def urls(self) -> list[str]:
        """The plain Apprise URLs of `notify` (secrets: never log them)."""
        return [url for _name, url in self.named_urls()]

    def named_urls(self) -> list[tuple[str | None, str]]:
        """Each `notify` entry as (its name or None, its plain URL)."""
        return [
            (item.name, item.url.get_secret_value())
            if isinstance(item, NamedTarget)
            else (None, item.get_secret_value())
            for item in self.notify
        ]


class DeliveryConfig(BaseModel):
    """`[delivery]`: the ledger's retry policy and the sender's limits."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    interval_s: Seconds = 5.0
    max_attempts: int = Field(default=12, ge=1)
    max_age_s: Seconds = 86400.0
    backoff_s: Seconds = 30.0
    max_backoff_s: Seconds = 3600.0
    audio_wait_s: float = Field(default=120.0, ge=0, allow_inf_nan=False)
    concurrency: int = Field(default=8, ge=1)
    timeout_s: Seconds = 30.0
    max_attachment_mb: Megabytes = 20.0
    timezone: Zone | None = None
    #: More notifications than this due at once for one route and target become one digest.
    max_per_cycle: int = Field(default=50, ge=1)

    @property
    def retry_policy(self) -> RetryPolicy:
        """Backoff between half and all of the step, so one outage's retries spread out."""
        return RetryPolicy(
            self.backoff_s, self.max_backoff_s, self.max_attempts, self.max_age_s, jitter=0.5
        )

    @property
    def max_attachment_bytes(self) -> int:
        return int(self.max_attachment_mb * MIB)


def default_route_name(index: int) -> str:
    """The name of the unnamed `[[route]]` at `index` (0-based): route-1, route-2, ..."""
    return f"route-{index + 1}"


def route_names(routes: object) -> list[str]:
    """Each `[[route]]` table's name as given, else its default (for naming it in errors)."""
    if not isinstance(routes, list | tuple):
        return []
    return [
        route["name"]
        if isinstance(route, Mapping) and isinstance(route.get("name"), str)
        else default_route_name(index)
        for index, route in enumerate(routes)
    ]


def with_default_names(routes: object) -> object:
    """The `[[route]]` tables, each unnamed one given its default name."""
    return named_by_place(routes, default_route_name)


def check_route_names(routes: tuple[RouteConfig, ...]) -> tuple[RouteConfig, ...]:
    """Route names identify ledger rows, so they must be unique."""
    name = repeated_name(route.name for route in routes)
    if name is not None:
        hint = ""
        if re.fullmatch(r"route-\d+", name):
            hint = " (an unnamed route is called route-N, N its place in the file)"
        raise problem(f"route name {name!r} is used twice{hint}")
    return routes
