"""Weekly and monthly reports against a sandbox with months of history, and `[[report]]`."""

from __future__ import annotations

import base64
import operator
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest
from pydantic import SecretStr
from support.receivers import JsonReceiver
from support.sandbox import API_KEY, make_world, own_figures, serve_sandbox
from support.store import open_store

from tossd.api.client import Client
from tossd.api.options import ApiOptions
from tossd.config.load import load_config
from tossd.config.report import ReportConfig
from tossd.config.routes import DeliveryConfig, RouteConfig
from tossd.daemon import resources
from tossd.daemon.routes import ready_routes
from tossd.domain import ListedExtension
from tossd.notify.deliver import Deliverer
from tossd.notify.targets import build_routes
from tossd.report.assemble import Report, build_report
from tossd.report.chart import chart_size
from tossd.report.period import Period, PeriodKind, period_of
from tossd.report.reporter import PreparedReport, Reporter, draw_chart
from tossd.report.text import render_report
from tossd.report.window import period_due
from tossd.sandbox.world import World
from tossd.store.store import Store

TZ = ZoneInfo("Europe/Berlin")


@pytest.fixture
def long_world(now: int) -> World:
    """Ten weeks of history: last month and the one before it are whole."""
    return make_world(now, history_days=70)


@pytest.fixture
async def long_api(long_world: World) -> AsyncIterator[tuple[str, Client]]:
    async with serve_sandbox(long_world) as running:
        options = ApiOptions(url=running.url, max_requests_per_s=1000.0, max_concurrency=8)
        async with Client.connect(options, API_KEY) as api:
            yield running.url, api


def last(kind: PeriodKind, now: int) -> Period:
    return period_of(kind, datetime.fromtimestamp(now, TZ).date()).previous()


async def report_of(api: Client, store: Store, period: Period, now: int) -> Report:
    return await build_report(api, store.stats(), period, TZ, now=now, late=False, due_at=0)


def truth_totals(world: World, report: Report) -> dict[str, int]:
    truth = own_figures(world, *report.window).values()
    return {key: sum(t[key] for t in truth) for key in next(iter(truth))}


def totals_of(report: Report) -> dict[str, int]:
    t = report.totals
    return {"calls": t.calls, "minutes": t.minutes, "missed": t.missed} | {
        "voicemails": t.voicemails,
        "texts_in": t.texts_in,
        "texts_out": t.texts_out,
    }


async def test_a_month_is_the_sum_of_its_days_and_equals_the_sandbox(
    long_api: tuple[str, Client], long_world: World, store: Store, now: int, tmp_path: Path
) -> None:
    _, api = long_api
    month = last(PeriodKind.MONTH, now)
    report = await report_of(api, store, month, now)
    days = [await report_of(api, store, period_of(PeriodKind.DAY, d), now) for d in month.days]
    assert report.totals == reduce(operator.add, (d.totals for d in days))
    assert totals_of(report) == truth_totals(long_world, report)
    assert report.totals.calls > 100
    # The chart's bars per day are the daily reports' calls.
    assert [s.calls for s in report.account_slots] == [d.totals.calls for d in days]
    assert report.previous is not None and report.previous.period == month.previous()
    before = await report_of(api, store, month.previous(), now)
    assert report.previous.totals == before.totals
    chart = draw_chart(report, tmp_path / "month.png")
    assert matplotlib.image.imread(chart).shape[:2] == chart_size(4, period=PeriodKind.MONTH)[::-1]


async def test_a_week_compares_with_the_week_before(
    long_api: tuple[str, Client], long_world: World, store: Store, now: int, tmp_path: Path
) -> None:
    _, api = long_api
    week = last(PeriodKind.WEEK, now)
    report = await report_of(api, store, week, now)
    assert totals_of(report) == truth_totals(long_world, report)
    assert report.previous is not None
    now_calls, before_calls = report.totals.calls, report.previous.totals.calls
    title, body = render_report(report, kind="plain")
    assert title.startswith(f"tossd weekly report {week.key}: {now_calls} calls")
    assert f"Compared with {week.previous().label}" in body
    change = (now_calls - before_calls) / before_calls * 100
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    assert f"Calls: {now_calls} (was {before_calls}) {arrow} {abs(change):.0f}%" in body
    assert "Busiest days: " in body and "Busiest hours: " in body and "Top callers:" in body
    assert len(report.slots) == 7
    draw_chart(report, tmp_path / "week.png")


async def test_daily_and_monthly_reports_each_go_to_their_own_targets(
    long_api: tuple[str, Client],
    long_world: World,
    write_config: Callable[..., Path],
    json_receiver: JsonReceiver,
    second_receiver: JsonReceiver,
    tmp_path: Path,
    db_path: Path,
    now: int,
) -> None:
    """`[[report]]`: daily to one target, monthly to another; on the 1st both are due."""
    url, api = long_api
    reports: list[dict[str, Any]] = [
        {"timezone": str(TZ), "notify": [json_receiver.url()]},
        {"name": "monthly", "period": "month", "timezone": str(TZ)}
        | {"notify": [second_receiver.url()], "label": "Acme"},
    ]
    config = load_config(write_config(url, report=reports), {})
    assert [(r.name, r.period) for r in config.reports] == [
        ("report", "day"),
        ("monthly", "month"),
    ]
    month = last(PeriodKind.MONTH, now)
    at = period_due(month, config.reports[1].at_time, TZ) + 60
    routes = ready_routes(config)
    with open_store(db_path) as store:
        fields = ("extensionid", "did", "forward", "startdate", "enddate", "alias")
        listed = [
            ListedExtension(**{k: e[k] for k in fields}) for e in long_world.extensions.values()
        ]
        store.sync_extensions(listed, at - 40 * 86400)  # first started long ago
        deliverer = resources.open_deliverer(config, store, routes)
        reporters = resources.open_reporter(api, store, config, routes)

        async def deliver(prepared: PreparedReport) -> None:
            deliverer.enqueue_report(prepared.messages, prepared.routes)

        sent = await reporters.tick(now=at, deliver=deliver)
        assert [p.report.period for p in sent] == [
            period_of(PeriodKind.DAY, month.end - timedelta(days=1)),
            month,
        ]
        assert (await deliverer.drain()).sent == 2
        assert await reporters.tick(now=at + 60, deliver=deliver) == []
    [daily] = json_receiver.payloads
    [monthly] = second_receiver.payloads
    assert daily["title"].startswith("tossd report ")
    assert monthly["title"].startswith(f"tossd monthly report {month.short}: ")
    assert [a["mimetype"] for a in monthly["attachments"]] == ["image/png"]


def test_month_and_week_labels_for_a_berlin_year() -> None:
    assert period_of(PeriodKind.MONTH, date(2026, 10, 9)).short == "Oct 2026"
    assert period_of(PeriodKind.WEEK, date(2026, 10, 21)).short == "2026-W43"


async def test_the_command_reports_a_week_or_a_month_by_its_name(
    long_api: tuple[str, Client],
    write_config: Callable[..., Path],
    run_tossd: Any,
    tmp_path: Path,
    now: int,
) -> None:
    url, _ = long_api
    path = write_config(url, report={"timezone": str(TZ), "label": "Acme"})
    out = tmp_path / "out"
    for kind in (PeriodKind.WEEK, PeriodKind.MONTH):
        period = last(kind, now)
        code, text, err = await run_tossd(
            "report", "-c", str(path), "--date", period.key, "--dry-run", "--out", str(out)
        )
        assert code == 0, err
        assert text.startswith(f"tossd {kind}ly report {period.short}: ")
        assert f"Compared with {period.previous().label}" in text
        assert f"chart: {out / f'tossd-report-{period.key}.png'}" in text
    # A day with --period: the week holding it.
    week = last(PeriodKind.WEEK, now)
    code, text, _ = await run_tossd(
        "report",
        "-c",
        str(path),
        "--date",
        week.first.isoformat(),
        "--period",
        "week",
        "--dry-run",
        "--out",
        str(out),
    )
    assert code == 0 and text.startswith(f"tossd weekly report {week.short}: ")
    code, _, err = await run_tossd(
        "report", "-c", str(path), "--date", "2026-W48", "--period", "month"
    )
    assert code != 0 and "is a week" in err


async def test_a_monthly_report_reaches_email_as_html_with_its_chart(
    long_api: tuple[str, Client],
    long_world: World,
    store: Store,
    now: int,
    tmp_path: Path,
    json_receiver: JsonReceiver,
    smtp_server: Any,
) -> None:
    """Reporter.tick -> Deliverer.enqueue_report -> drain, as `tossd run` does it, to a
    `[[route]]` taking "report" with a webhook and a mailbox."""
    _, api = long_api
    config = ReportConfig(timezone=str(TZ), period="month", label="Acme")
    route = RouteConfig(
        name="morning",
        events=("report",),
        notify=(SecretStr(json_receiver.url()), SecretStr(smtp_server.url())),
    )
    routes = build_routes([route], TZ)
    deliverer = Deliverer(store, store.ledger(), routes, DeliveryConfig())
    reporter = Reporter.of(api, store.stats(), config, routes, tmp_path / "charts")
    month = last(PeriodKind.MONTH, now)
    at = period_due(month, config.at_time, TZ) + 30
    fields = ("extensionid", "did", "forward", "startdate", "enddate", "alias")
    listed = [ListedExtension(**{k: e[k] for k in fields}) for e in long_world.extensions.values()]
    store.sync_extensions(listed, at - 60 * 86400)

    async def deliver(prepared: PreparedReport) -> None:
        assert len(deliverer.enqueue_report(prepared.messages, prepared.routes)) == 2
        assert (await deliverer.drain()).sent == 2

    prepared = await reporter.tick(now=at, deliver=deliver)
    assert prepared is not None and prepared.chart is not None
    [payload] = await json_receiver.wait_for(1)
    assert payload["title"].startswith(f"tossd monthly report {month.short}: ")
    [chart] = payload["attachments"]
    assert base64.b64decode(chart["base64"]) == prepared.chart.read_bytes()
    [mail] = await smtp_server.wait_for(1)
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    content = html.get_content()
    assert "<strong>All numbers</strong>" in content and month.previous().label in content
    assert any(arrow in content for arrow in ("▲", "▼", "= 0%"))
    assert [p.get_content_type() for p in mail.iter_attachments()] == ["image/png"]
    assert await reporter.tick(now=at + 60, deliver=deliver) is None  # once per period
