"""What a nightly report says to each target: text and HTML from templates, cleaned values."""

# Pure apart from reading the shipped templates (tossd/notify/templates/report.*.j2).

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from tossd.domain import TargetKind
from tossd.notify.message import Attachment, Message, encoded_size
from tossd.notify.render import NAME_LEN, NUMBER_LEN
from tossd.notify.routing import Target
from tossd.report.figures import NumberReport, Report
from tossd.store.stats import TopCaller
from tossd.text.phone import format_number
from tossd.text.sanitize import clean, clean_title

# Spelled out rather than strftime's %a/%b, which follow the process locale.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HOUR_S = 3600


def _count(n: int, one: str, many: str | None = None) -> str:
    """`1 | count("call")` -> "1 call"; `3 | count("call")` -> "3 calls"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


# Autoescape only for the HTML template: the text ones are made safe by `clean` per target.
# StrictUndefined: these templates are ours, so a typo must fail the tests, not print "".
_ENV = SandboxedEnvironment(
    loader=jinja2.PackageLoader("tossd.notify", "templates"),
    autoescape=jinja2.select_autoescape(("html.j2",), default_for_string=False, default=False),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
_ENV.filters["count"] = _count


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _caller_label(caller: TopCaller, kind: TargetKind) -> str:
    """`Name (+1 212-555-0134)`, or one of them when the other is missing or the same."""
    name = clean(caller.name, kind, max_len=NAME_LEN)
    number = clean(format_number(caller.number), kind, max_len=NUMBER_LEN)
    if not number:
        return name or "Unknown caller"
    digits = _digits(name)
    same = not name or name == number or (bool(digits) and digits == _digits(caller.number))
    return number if same else f"{name} ({number})"


def _busiest(number: NumberReport, report: Report) -> str:
    """The local hour with the most calls ("10:00, 3 calls"), the earliest on a tie."""
    calls = [hour.calls for hour in number.hourly]
    if not calls or max(calls) == 0:
        return ""
    index = calls.index(max(calls))
    return f"{report.slots[index].clock}, {_count(calls[index], 'call')}"


def _number(number: NumberReport, report: Report, kind: TargetKind) -> dict[str, Any]:
    ext, summary, activity = number.extension, number.summary, number.activity
    alias = clean(ext.alias, kind, max_len=NAME_LEN)
    did = clean(format_number(ext.did), kind, max_len=NUMBER_LEN)
    return {
        "label": alias or did or f"extension {ext.extensionid}",
        "did": did if alias else "",
        "available": summary is not None,
        "calls": summary.totalcalls if summary else 0,
        "minutes": summary.totalduration if summary else 0,
        "average": f"{summary.avgduration:.1f}" if summary else "",
        "longest": summary.maxduration if summary else 0,
        "recorded_calls": activity.calls,
        "missed": activity.missed,
        "voicemails": activity.voicemails,
        "texts": activity.texts,
        "busiest": _busiest(number, report),
        "callers": [
            {"label": _caller_label(c, kind), "calls": c.calls} for c in activity.top_callers
        ],
    }


def report_context(report: Report, *, kind: TargetKind) -> dict[str, Any]:
    """Everything the report templates may use; every value from the API is cleaned for `kind`."""
    day, totals = report.day, report.totals
    hours = (report.window[1] - report.window[0]) / _HOUR_S
    return {
        "day": f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}",
        "day_short": f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}",
        "date": day.isoformat(),
        "tz": str(report.tz),
        "hours": f"{hours:g}",
        "short_day": hours < 24,
        "long_day": hours > 24,
        "late": report.late,
        "due": f"{datetime.fromtimestamp(report.due_at, report.tz):%H:%M}",
        "totals": {
            **vars(totals),
            "average": f"{totals.average_minutes:.1f}",
            "all_unavailable": bool(report.numbers) and totals.unavailable == len(report.numbers),
        },
        "numbers": [_number(number, report, kind) for number in report.numbers],
    }


def render_report(report: Report, *, kind: TargetKind) -> tuple[str, str]:
    """(title, plain-text body) of `report` for a target of `kind`."""
    context = report_context(report, kind=kind)
    title = _ENV.get_template("report.title.j2").render(context)
    body = _ENV.get_template("report.body.j2").render(context)
    return clean_title(title, kind), body.strip()


def render_report_html(report: Report) -> str:
    """The HTML body for email targets (values cleaned for email, then HTML-escaped)."""
    return (
        _ENV.get_template("report.html.j2")
        .render(report_context(report, kind=TargetKind.EMAIL))
        .strip()
    )


def report_messages(
    report: Report, targets: Sequence[Target], chart: Path | None
) -> tuple[tuple[Target, Message], ...]:
    """One Message per target, rendered for its kind; the chart where the target takes it."""
    size = chart.stat().st_size if chart is not None else 0
    messages = []
    for target in targets:
        title, body = render_report(report, kind=target.info.kind)
        info = target.info
        fits = info.supports_attachments and encoded_size(size) <= info.attachment_cap_bytes
        attach = (Attachment(chart, chart.name, size, "image/png"),) if chart and fits else ()
        html = render_report_html(report) if info.kind is TargetKind.EMAIL else None
        messages.append((target, Message(title, body, attach, html)))
    return tuple(messages)
