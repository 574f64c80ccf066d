"""`[report]`: the nightly usage report: when, in which time zone, for which numbers, to whom."""

from __future__ import annotations

import re
from datetime import time as clock_time
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from tossd.config.naming import named_by_place, repeated_name
from tossd.config.problems import problem
from tossd.config.routes import Zone

_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: The name of `[report]`, and of the first `[[report]]` table when it has none.
FIRST_REPORT = "report"
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class ReportConfig(BaseModel):
    """`[report]` (or each `[[report]]`): targets are `notify` plus every route whose `events`
    lists "report"."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    #: Identifies the report's sent periods and its `notify` rows: `report-N` by default.
    name: str = FIRST_REPORT
    #: Who the report is about, in its chart's title (e.g. the company); "tossd" if unset.
    label: str = ""
    enabled: bool = True
    #: A local day, an ISO week (from `week_starts`) or a calendar month.
    period: Literal["day", "week", "month"] = "day"
    week_starts: Weekday = "monday"
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

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if _NAME.match(value) is None:
            raise problem('expected letters, digits, "-", "_" or "." (at most 64), e.g. "monthly"')
        return value

    @field_validator("at")
    @classmethod
    def _clock(cls, value: str) -> str:
        if _AT.match(value) is None:
            raise problem('expected a 24-hour local time "HH:MM", e.g. "07:00"')
        return value

    @property
    def route_name(self) -> str:
        """The route its `notify` URLs become: `[report]` for the first (or only) report,
        `[report NAME]` for the others."""
        return "[report]" if self.name == FIRST_REPORT else f"[report {self.name}]"

    @property
    def at_time(self) -> clock_time:
        hours, minutes = self.at.split(":")
        return clock_time(int(hours), int(minutes))

    def urls(self) -> list[str]:
        """The plain Apprise URLs of `notify` (secrets: never log them)."""
        return [url.get_secret_value() for url in self.notify]


def with_report_names(reports: object) -> object:
    """`[report]` as one table, or the `[[report]]` tables, each unnamed one named by its
    place: the first `report` (as `[report]` is), then `report-2`, `report-3`, ..."""
    return named_by_place(reports, _report_name)


def _report_name(index: int) -> str:
    return FIRST_REPORT if index == 0 else f"report-{index + 1}"


def check_report_names(
    reports: ReportConfig | tuple[ReportConfig, ...],
) -> ReportConfig | tuple[ReportConfig, ...]:
    """Report names identify sent periods and ledger rows, so they must be unique."""
    if isinstance(reports, ReportConfig):
        return reports
    name = repeated_name(report.name for report in reports)
    if name is not None:
        raise problem(f"report name {name!r} is used twice")
    return reports
