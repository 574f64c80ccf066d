"""The nightly report against the sandbox over loopback and a real SQLite store."""

from __future__ import annotations

import base64
import struct
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs
from support.store import open_store

from tossd.api.client import Client
from tossd.config.load import load_config
from tossd.config.model import PollConfig
from tossd.config.report import ReportConfig
from tossd.config.routes import RouteConfig
from tossd.daemon.oneshot import day_to_report, poll_once, run_report
from tossd.domain import EventKind
from tossd.errors import ConfigError, TossdError
from tossd.notify.targets import build_routes
from tossd.poll.poller import Poller
from tossd.report.chart import chart_size
from tossd.report.figures import Report, build_report
from tossd.report.reporter import PreparedReport, Reporter, draw_chart, report_targets
from tossd.report.text import render_report, render_report_html
from tossd.report.window import day_window, due_at
from tossd.sandbox.server import RunningSandbox
from tossd.sandbox.world import World
from tossd.store.engine import create_engine
from tossd.store.stats import Stats
from tossd.store.store import Store

TZ = ZoneInfo("America/New_York")
HOSTILE = "<!here> @everyone *pwned* {{ 7*7 }} <script>x</script>\x1b[31m"
HOSTILE_NUMBER = "+12125550199"
#: An alias the chart's font cannot fully draw, with TeX that matplotlib would try to parse.
HOSTILE_ALIAS = "💸 Sales $\\frac{1$ <b>"


def local_yesterday(now: int) -> date:
    return datetime.fromtimestamp(now, TZ).date() - timedelta(days=1)


@pytest.fixture
async def store(
    db_path: Path, tmp_path: Path, make_client: Callable[..., Client], world: World, now: int
) -> AsyncIterator[Store]:
    """A store that polled the sandbox once, after three hostile calls landed yesterday noon
    and two calls on the window's edges: at its first second, and at the next day's first."""
    start, end = day_window(local_yesterday(now), TZ)
    noon = start + 12 * 3600
    live = min(i for i, e in world.extensions.items() if e["enddate"] == 0)
    world.extensions[live]["alias"] = HOSTILE_ALIAS
    for offset in range(3):
        world.add_call(
            extensionid=live,
            startdate=noon + offset * 60,
            callernum=HOSTILE_NUMBER,
            callername=HOSTILE,
            seconds=30 * offset,
        )
    for edge in (start, end):
        world.add_call(extensionid=live, startdate=edge, callernum="+12125550100", seconds=61)
    with open_store(db_path, audio_dir=tmp_path / "audio") as opened:
        # A first sight reaching back over yesterday, so the store holds the day reported.
        config = PollConfig(initial_window_s=3 * 86400)
        await Poller(make_client(), opened, config).poll_all()
        yield opened


@pytest.fixture
def stats(store: Store, db_url: str) -> Iterator[Stats]:
    engine = create_engine(db_url)
    yield Stats(engine)
    engine.dispose()


async def yesterday_report(
    make_client: Callable[..., Client], stats: Stats, store: Store, now: int
) -> Report:
    return await build_report(
        make_client(),
        stats,
        store.all_extensions(),
        local_yesterday(now),
        TZ,
        ReportConfig(),
        now=now,
    )


async def test_figures_equal_the_sandbox_call_summary(
    make_client: Callable[..., Client], stats: Stats, store: Store, world: World, now: int
) -> None:
    report = await yesterday_report(make_client, stats, store, now)
    start, end = report.window
    assert report.numbers
    for number in report.numbers:
        truth = world.call(
            "callSummary",
            {
                "startdate": str(start),
                "enddate": str(end - 1),
                "extensionid": str(number.extension.extensionid),
            },
            now,
        )
        assert number.summary is not None
        assert number.summary.model_dump() == truth
    assert sum(n.summary.totalcalls for n in report.numbers if n.summary) > 0
    assert report.totals.calls == sum(n.summary.totalcalls for n in report.numbers if n.summary)


async def test_store_counts_equal_what_the_store_holds(
    make_client: Callable[..., Client], stats: Stats, store: Store, now: int
) -> None:
    report = await yesterday_report(make_client, stats, store, now)
    start, end = report.window
    held = Counter(
        (e.extensionid, e.kind) for e in store.list_events(since=start) if e.occurred_at < end
    )
    assert sum(held.values()) > 0
    for number in report.numbers:
        eid, activity = number.extension.extensionid, number.activity
        assert activity.missed == held[eid, EventKind.MISSED_CALL]
        assert activity.calls == held[eid, EventKind.CALL] + held[eid, EventKind.MISSED_CALL]
        assert activity.voicemails == held[eid, EventKind.VOICEMAIL]
        assert activity.texts == held[eid, EventKind.SMS]
        assert sum(h.calls for h in number.hourly) == activity.calls
        assert sum(h.missed for h in number.hourly) == activity.missed
        assert len(number.hourly) == len(report.slots)


async def test_hostile_caller_names_are_cleaned_in_every_rendering(
    make_client: Callable[..., Client], stats: Stats, store: Store, now: int
) -> None:
    report = await yesterday_report(make_client, stats, store, now)
    top = [c for n in report.numbers for c in n.activity.top_callers]
    assert any(c.number == HOSTILE_NUMBER and c.calls == 3 for c in top)
    for kind in ("slack", "discord", "email", "plain"):
        title, body = render_report(report, kind=kind)
        assert "+1 212-555-0199" in body
        assert "<" not in body and "\x1b" not in body and "@everyone" not in body
        assert "{{" not in title
    html = render_report_html(report)
    assert "<script>" not in html and "<!here>" not in html
    assert "+1 212-555-0199" in html


async def test_one_failing_call_summary_leaves_the_others_and_the_report(
    make_client: Callable[..., Client],
    stats: Stats,
    store: Store,
    sandbox: RunningSandbox,
    now: int,
) -> None:
    live = [e.extensionid for e in store.active_extensions()]
    sandbox.sandbox.faults.broken_extensions = {live[0]}
    with capture_logs() as logs:
        report = await yesterday_report(make_client, stats, store, now)
    broken = next(n for n in report.numbers if n.extension.extensionid == live[0])
    assert broken.summary is None
    assert [n for n in report.numbers if n.summary is not None]
    assert report.totals.unavailable == 1
    assert {"event": "report.summary_failed", "extensionid": live[0]}.items() <= next(
        e for e in logs if e["event"] == "report.summary_failed"
    ).items()
    _, body = render_report(report, kind="plain")
    assert "Call figures unavailable" in body


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


async def test_the_chart_is_a_png_of_the_expected_size(
    make_client: Callable[..., Client], stats: Stats, store: Store, now: int, tmp_path: Path
) -> None:
    report = await yesterday_report(make_client, stats, store, now)
    path = draw_chart(report, tmp_path / "chart.png")
    expected = chart_size(len(report.numbers))
    assert expected == (1200, 300 * len(report.numbers))
    assert png_size(path) == expected
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (expected[1], expected[0])
    # Not a blank canvas: the bars and text drew something.
    assert pixels.std() > 0.01


async def test_a_restart_after_the_report_time_sends_it_exactly_once(
    make_client: Callable[..., Client], store: Store, db_url: str, now: int, tmp_path: Path
) -> None:
    day = local_yesterday(now)
    config = ReportConfig(
        notify=(SecretStr(f"tossd-file://{tmp_path / 'inbox'}"),), timezone="America/New_York"
    )
    delivered: list[PreparedReport] = []

    async def deliver(prepared: PreparedReport) -> None:
        delivered.append(prepared)

    async def tick_in_a_new_process(at: int) -> PreparedReport | None:
        engine = create_engine(db_url)
        try:
            reporter = Reporter.of(make_client(), Stats(engine), config, [], tmp_path / "charts")
            return await reporter.tick(store.all_extensions(), now=at, deliver=deliver)
        finally:
            engine.dispose()

    # tossd was down at 07:00 and starts two hours later, then restarts twice.
    started = due_at(day, config.at_time, TZ) + 2 * 3600
    first = await tick_in_a_new_process(started)
    assert first is not None and first.report.day == day and first.report.late
    assert await tick_in_a_new_process(started + 60) is None
    assert await tick_in_a_new_process(started + 3600) is None
    assert [p.report.day for p in delivered] == [day]
    # The next day's report is due at its own time, on time.
    next_day = await tick_in_a_new_process(due_at(day + timedelta(days=1), config.at_time, TZ) + 5)
    assert next_day is not None and not next_day.report.late
    assert [p.report.day for p in delivered] == [day, day + timedelta(days=1)]
    message = first.messages[0][1]
    assert [a.mime for a in message.attachments] == ["image/png"]
    assert "(late)" in message.title


def test_record_report_is_exactly_once(stats: Stats) -> None:
    day = date(2026, 3, 8)
    assert stats.last_report_date() is None
    assert not stats.report_recorded(day)
    assert stats.record_report(day, sent_at=1, late=False, summary_json="{}")
    assert not stats.record_report(day, sent_at=2, late=True, summary_json="{}")
    assert stats.report_recorded(day)
    assert stats.record_report(date(2026, 3, 7), sent_at=3, late=False, summary_json="{}")
    assert stats.last_report_date() == day


async def test_tossd_report_dry_run_prints_and_draws_without_sending(
    sandbox: RunningSandbox,
    write_config: Callable[..., Path],
    tmp_path: Path,
    now: int,
) -> None:
    config = load_config(write_config(sandbox.url), {})
    await poll_once(config)
    inbox = tmp_path / "inbox"
    report_config = ReportConfig(
        notify=(SecretStr(f"tossd-file://{inbox}"),), timezone="America/New_York"
    )
    run = await run_report(config, report_config, dry_run=True, out_dir=tmp_path / "out", now=now)
    assert run.prepared.report.day == local_yesterday(now)
    assert run.text.startswith("tossd report ")
    assert run.prepared.chart is not None and run.prepared.chart.parent == tmp_path / "out"
    assert png_size(run.prepared.chart)[0] == 1200
    assert run.results == () and not run.recorded
    assert not inbox.exists()
    sent = await run_report(config, report_config, out_dir=tmp_path / "out", now=now)
    assert [r.ok for _, r in sent.results] == [True] and sent.recorded
    assert sorted(p.suffix for p in inbox.iterdir()) == [".png", ".txt"]


def test_report_config_reads_toml_values_and_refuses_bad_ones() -> None:
    config = ReportConfig.model_validate(
        {"at": "06:30", "timezone": "Europe/Paris", "notify": ["json://127.0.0.1:9/"]}
        | {"extensions": ["+1 212 555 0134", 10002, "Sales"], "chart": False}
    )
    assert config.at_time == time(6, 30)
    assert config.urls() == ["json://127.0.0.1:9/"]
    assert config.extensions == ("+1 212 555 0134", 10002, "Sales")
    assert "json://" not in repr(config)
    for bad in ({"at": "7:00"}, {"at": "24:00"}, {"timezone": "Mars/Base"}, {"chart": "yes"}):
        with pytest.raises(ValidationError):
            ReportConfig.model_validate(bad)
    assert ReportConfig().at_time == time(7, 0) and ReportConfig().chart


def test_report_targets_join_report_notify_and_report_routes(tmp_path: Path) -> None:
    folder = f"tossd-file://{tmp_path / 'a'}"
    routes = build_routes(
        [
            RouteConfig(name="ops", events=("report",), notify=(SecretStr(folder),)),
            RouteConfig(name="calls", events=("call",), notify=(SecretStr("json://127.0.0.1:9/"),)),
        ],
        TZ,
    )
    config = ReportConfig(notify=(SecretStr(folder), SecretStr(f"{folder}-b")))
    assert [t.url for t in report_targets(config, routes)] == [folder, f"{folder}-b"]
    with pytest.raises(ConfigError, match=r"report\.notify\[0\]"):
        report_targets(ReportConfig(notify=(SecretStr("nosuchscheme://x"),)), [])


def test_the_command_refuses_a_day_that_has_not_ended(now: int) -> None:
    today = datetime.fromtimestamp(now, TZ).date()
    assert day_to_report(None, now, TZ, dry_run=False) == today - timedelta(days=1)
    assert day_to_report(today, now, TZ, dry_run=True) == today
    with pytest.raises(TossdError, match="not ended"):
        day_to_report(today, now, TZ, dry_run=False)
    with pytest.raises(TossdError, match="not begun"):
        day_to_report(today + timedelta(days=2), now, TZ, dry_run=True)


async def test_the_daemon_path_delivers_the_report_through_the_ledger(
    make_client: Callable[..., Client],
    store: Store,
    now: int,
    tmp_path: Path,
    json_receiver: Any,
    smtp_server: Any,
) -> None:
    """Reporter.tick -> Deliverer.enqueue_report -> drain, as `tossd run` does it."""
    from tossd.config.routes import DeliveryConfig
    from tossd.notify.deliver import Deliverer

    day = local_yesterday(now)
    config = ReportConfig(timezone="America/New_York")
    route = RouteConfig(
        name="morning",
        events=("report",),
        notify=(SecretStr(json_receiver.url()), SecretStr(smtp_server.url())),
    )
    routes = build_routes([route], TZ)
    deliverer = Deliverer(store, store.ledger(), routes, DeliveryConfig())
    reporter = Reporter.of(make_client(), store.stats(), config, routes, tmp_path / "charts")

    async def deliver(prepared: PreparedReport) -> None:
        assert len(deliverer.enqueue_report(prepared.messages)) == 2
        assert (await deliverer.drain()).sent == 2

    at = due_at(day, config.at_time, TZ) + 30
    prepared = await reporter.tick(store.all_extensions(), now=at, deliver=deliver)
    assert prepared is not None
    payload = (await json_receiver.wait_for(1))[0]
    # The title spells the day without padding ("Wed 2 Dec"), on any day of the month.
    assert f" {day.day} " in payload["title"]
    [chart] = payload["attachments"]
    assert chart["mimetype"] == "image/png"
    assert base64.b64decode(chart["base64"]) == prepared.chart.read_bytes()  # type: ignore[union-attr]
    mail = (await smtp_server.wait_for(1))[0]
    html = mail.get_body(preferencelist=("html",))
    assert html is not None and "<" in html.get_content()
    assert [p.get_content_type() for p in mail.iter_attachments()] == ["image/png"]
    # Once per date: the next tick sends nothing.
    assert await reporter.tick(store.all_extensions(), now=at + 60, deliver=deliver) is None
