"""What a nightly report says to each target: text and HTML from templates, cleaned values."""

# Pure apart from reading the shipped templates (tossd/notify/templates/report.*.j2).

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from tossd.domain import TargetKind
from tossd.notify.message import Attachment, Message, encoded_size
from tossd.notify.render import NAME_LEN, NUMBER_LEN
from tossd.notify.routing import Target
from tossd.report.assemble import Report, ended_text
from tossd.report.figures import Figures, NumberReport, TopCaller
from tossd.report.period import PeriodKind
from tossd.report.window import HourSlot
from tossd.text.counting import counted
from tossd.text.phone import format_number
from tossd.text.sanitize import clean, clean_title

_HOUR_S = 3600


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
_ENV.filters["count"] = counted


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
    calls = [slot.calls for slot in number.slots]
    if not calls or max(calls) == 0 or report.period.kind is not PeriodKind.DAY:
        return ""
    index = calls.index(max(calls))
    slot = report.slots[index]
    clock = slot.clock if isinstance(slot, HourSlot) else slot.name
    return f"{clock}, {counted(calls[index], 'call')}"


def _figures(figures: Figures) -> dict[str, Any]:
    return {
        **{f.name: getattr(figures, f.name) for f in fields(figures)},
        "texts": figures.texts,
        "average": f"{figures.average_minutes:.1f}",
        "missed_pct": f"{figures.missed_share * 100:.0f}",
    }


def _number(number: NumberReport, report: Report, kind: TargetKind) -> dict[str, Any]:
    ext = number.extension
    alias = clean(ext.alias, kind, max_len=NAME_LEN)
    did = clean(format_number(ext.did), kind, max_len=NUMBER_LEN)
    return {
        "label": alias or did or f"extension {ext.extensionid}",
        "did": did if alias else "",
        "ended": ended_text(number, report),
        **_figures(number.figures),
        "busiest": _busiest(number, report),
        "callers": [
            {"label": _caller_label(c, kind), "calls": c.calls} for c in number.top_callers
        ],
        "notes": list(number.notes),
    }


def describe_change(now: float, before: float, *, points: bool = False) -> str:
    """How a figure moved since the previous period: `▲ 25%`, `▼ 10%`, `= 0%`, `▲ new`
    (from nothing); a share (`points`) moves in percentage points: `▲ 6.8 pts`."""
    if points:
        diff = (now - before) * 100
        arrow = "▲" if diff > 0.05 else "▼" if diff < -0.05 else "="
        return f"{arrow} {abs(diff):.1f} pts"
    if before == 0:
        return "= 0%" if now == 0 else "▲ new"
    change = (now - before) / before * 100
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    return f"{arrow} {abs(change):.0f}%"


def _comparison(report: Report) -> list[dict[str, str]]:
    """Each headline figure beside the previous period's, with the change."""
    if report.previous is None:
        return []
    now, before = report.totals, report.previous.totals
    rows = [
        ("Calls", now.calls, before.calls),
        ("Answered", now.answered, before.answered),
        ("Voicemails", now.voicemails, before.voicemails),
        ("Texts", now.texts, before.texts),
        ("Minutes", now.minutes, before.minutes),
    ]
    table = [
        {"label": name, "now": str(a), "before": str(b), "change": describe_change(a, b)}
        for name, a, b in rows
    ]
    table.insert(
        2,
        {
            "label": "Missed",
            "now": f"{now.missed_share * 100:.0f}%",
            "before": f"{before.missed_share * 100:.0f}%",
            "change": describe_change(now.missed_share, before.missed_share, points=True),
        },
    )
    return table


def report_context(report: Report, *, kind: TargetKind) -> dict[str, Any]:
    """Everything the report templates may use; every value from the API is cleaned for `kind`."""
    period, totals = report.period, report.totals
    hours = (report.window[1] - report.window[0]) / _HOUR_S
    is_day = period.kind is PeriodKind.DAY
    return {
        "period": period.kind.value,
        "day": period.label,
        "day_short": period.short,
        "date": period.key,
        "tz": str(report.tz),
        "hours": f"{hours:g}",
        "short_day": is_day and hours < 24,
        "long_day": is_day and hours > 24,
        "late": report.late,
        "due": f"{datetime.fromtimestamp(report.due_at, report.tz):%H:%M}",
        "totals": _figures(totals),
        "numbers": [_number(number, report, kind) for number in report.numbers],
        "previous": report.previous.period.label if report.previous else "",
        "comparison": _comparison(report),
        "busiest_hours": [
            f"{hour:02d}:00 ({counted(calls, 'call')})" for hour, calls in report.busiest_hours
        ],
        "busiest_days": [
            f"{slot.name} ({counted(calls, 'call')})" for slot, calls in report.busiest_days
        ],
        "top_callers": [
            {"label": _caller_label(c, kind), "calls": c.calls} for c in report.top_callers
        ],
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
