"""Reports against the sandbox over loopback and a real SQLite store: the provider's figures."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs
from support.receivers import JsonReceiver
from support.sandbox import own_figures
from support.store import db_count, db_rows, open_store

from tossd.api.client import Client
from tossd.config.load import load_config
from tossd.config.model import PollConfig
from tossd.config.report import ReportConfig
from tossd.config.routes import RouteConfig
from tossd.daemon import resources
from tossd.daemon.lifecycle import Daemon
from tossd.daemon.oneshot import day_to_report
from tossd.daemon.routes import ready_routes
from tossd.domain import ListedExtension
from tossd.errors import ConfigError, TossdError
from tossd.notify.targets import build_routes
from tossd.poll.poller import Poller
from tossd.report.assemble import Report, build_report
from tossd.report.chart import chart_size
from tossd.report.period import Period, PeriodKind, period_of
from tossd.report.reporter import PreparedReport, Reporter, draw_chart, report_targets
from tossd.report.text import render_report, render_report_html
from tossd.report.window import day_window, due_at, period_window
from tossd.sandbox.server import RunningSandbox
from tossd.sandbox.world import World
from tossd.store.store import Store

TZ = ZoneInfo("America/New_York")
HOSTILE = "<!here> @everyone *pwned* {{ 7*7 }} <script>x</script>\x1b[31m"
HOSTILE_NUMBER = "+12125550199"
#: An alias the chart's font cannot fully draw, with TeX that matplotlib would try to parse.
HOSTILE_ALIAS = "💸 Sales $\\frac{1$ <b>"
ENDED_DID = "+12125550777"


def local_yesterday(now: int) -> date:
    return datetime.fromtimestamp(now, TZ).date() - timedelta(days=1)


def day(now: int) -> Period:
    return period_of(PeriodKind.DAY, local_yesterday(now))


def set_the_day(world: World, now: int) -> int:
    """Yesterday gets a number that ended at its noon (two calls, one missed, a voicemail and
    a text each way before), three hostile calls on a live number, and calls on the window's
    first second and on the next day's first second; returns the ended number's id."""
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
    ended = world.add_extension(
        did=ENDED_DID,
        forward="+13125550000",
        startdate=start - 30 * 86400,
        enddate=noon,
        alias="Spring promo",
    )["extensionid"]
    world.add_call(extensionid=ended, startdate=noon - 7200, callernum="+13125550111", seconds=200)
    world.add_call(extensionid=ended, startdate=noon - 3600, callernum="+13125550112", seconds=0)
    world.add_voicemail(extensionid=ended, timestamp=noon - 1800, callernum="+13125550113")
    for direction, at in (("in", noon - 900), ("out", noon - 600)):
        world.add_sms(
            did=ENDED_DID, timestamp=at, peer="+13125550114", message="hi", direction=direction
        )
    return int(ended)


async def report_of(
    make_client: Callable[..., Client], store: Store, period: Period, now: int
) -> Report:
    return await build_report(
        make_client(), store.stats(), period, TZ, now=now, late=False, due_at=0, name="Acme"
    )


def assert_equals_the_sandbox(report: Report, world: World) -> None:
    truth = own_figures(world, *report.window)
    assert {n.extension.extensionid for n in report.numbers} == set(truth)
    for number in report.numbers:
        f = number.figures
        shown = {"calls": f.calls, "minutes": f.minutes, "missed": f.missed}
        shown |= {"voicemails": f.voicemails, "texts_in": f.texts_in, "texts_out": f.texts_out}
        assert shown == truth[number.extension.extensionid], number.extension
    totals = report.totals
    assert totals.calls == sum(t["calls"] for t in truth.values()) > 0
    assert totals.minutes == sum(t["minutes"] for t in truth.values())
    assert totals.missed == sum(t["missed"] for t in truth.values())
    assert totals.voicemails == sum(t["voicemails"] for t in truth.values())
    assert totals.texts == sum(t["texts_in"] + t["texts_out"] for t in truth.values())


@pytest.fixture
def store(any_store: Store) -> Store:
    """The store's part of a report (first start, reports sent, deleted voicemails) on
    SQLite and PostgreSQL alike; the figures themselves are the provider's."""
    return any_store


async def test_a_past_day_on_a_fresh_install_equals_the_sandbox_figures(
    make_client: Callable[..., Client], store: Store, world: World, now: int
) -> None:
    """Nothing was ever polled: every figure comes from the provider, the ended number too."""
    ended = set_the_day(world, now)
    assert store.all_extensions() == []
    report = await report_of(make_client, store, day(now), now)
    assert_equals_the_sandbox(report, world)
    spring = next(n for n in report.numbers if n.extension.extensionid == ended)
    assert (spring.figures.calls, spring.figures.missed, spring.figures.voicemails) == (3, 1, 1)
    assert sum(c.calls for c in spring.slots) == 3
    for number in report.numbers:  # the chart's bars are the text's calls
        assert sum(c.calls for c in number.slots) == number.figures.calls
        assert sum(c.missed for c in number.slots) == number.figures.missed
    _, body = render_report(report, kind="plain")
    assert "Spring promo · +1 212-555-0777 · ended 12:00" in body
    assert "3 calls" in body


async def test_a_day_tossd_was_down_for_equals_the_sandbox_figures(
    make_client: Callable[..., Client], store: Store, world: World, now: int
) -> None:
    """tossd polled calls and texts, but only the last 15 minutes: it holds no row of the
    day reported."""
    set_the_day(world, now)
    await Poller(make_client(), store, PollConfig(streams=("calls", "sms"))).poll_all()
    start, end = day(now).first, day(now).end
    window = day_window(start, TZ)
    assert store.all_extensions() and not [
        e for e in store.list_events(since=window[0]) if e.occurred_at < window[1]
    ]
    assert end == start + timedelta(days=1)
    assert_equals_the_sandbox(await report_of(make_client, store, day(now), now), world)


async def test_a_voicemail_deleted_at_the_provider_is_counted_from_the_store(
    make_client: Callable[..., Client], store: Store, world: World, now: int
) -> None:
    set_the_day(world, now)
    live = min(i for i, e in world.extensions.items() if e["enddate"] == 0)
    start, _ = day_window(local_yesterday(now), TZ)
    voicemail = world.add_voicemail(extensionid=live, timestamp=start + 600, callernum="+1312")
    await Poller(make_client(), store, PollConfig()).poll_all()  # it stores the whole box
    before = await report_of(make_client, store, day(now), now)
    deleting = {"extensionid": str(live), "vmid": str(voicemail["vmid"]), "status": "deleted"}
    world.call("extensionVoicemailSet", deleting, now)
    report = await report_of(make_client, store, day(now), now)
    [was, sales] = (
        next(n for n in r.numbers if n.extension.extensionid == live) for r in (before, report)
    )
    assert sales.figures.voicemails == was.figures.voicemails > 0
    assert own_figures(world, *report.window)[live]["voicemails"] == was.figures.voicemails - 1
    assert sales.notes == (
        "1 voicemail(s) deleted at Tossable Digits, counted from tossd's records",
    )
    _, body = render_report(report, kind="plain")
    assert "Note: 1 voicemail(s) deleted at Tossable Digits" in body


async def test_hostile_caller_names_are_cleaned_in_every_rendering(
    make_client: Callable[..., Client], store: Store, world: World, now: int
) -> None:
    set_the_day(world, now)
    report = await report_of(make_client, store, day(now), now)
    top = [c for n in report.numbers for c in n.top_callers]
    assert any(c.number == HOSTILE_NUMBER and c.calls == 3 for c in top)
    for kind in ("slack", "discord", "email", "plain"):
        title, body = render_report(report, kind=kind)
        assert "+1 212-555-0199" in body
        assert "<" not in body and "\x1b" not in body and "@everyone" not in body
        assert "{{" not in title
    html = render_report_html(report)
    assert "<script>" not in html and "<!here>" not in html
    assert "+1 212-555-0199" in html


async def test_one_failing_number_leaves_the_others_and_the_report(
    make_client: Callable[..., Client],
    store: Store,
    sandbox: RunningSandbox,
    world: World,
    now: int,
) -> None:
    """Its callSummary and voicemail box fail: calls still come from the account's records."""
    set_the_day(world, now)
    live = min(i for i, e in world.extensions.items() if e["enddate"] == 0)
    sandbox.sandbox.faults.broken_extensions = {live}
    with capture_logs() as logs:
        report = await report_of(make_client, store, day(now), now)
    broken = next(n for n in report.numbers if n.extension.extensionid == live)
    truth = own_figures(world, *report.window)[live]
    assert broken.summary is None and broken.figures.calls == truth["calls"] > 0
    assert broken.figures.minutes == truth["minutes"]
    assert "callSummary unavailable: minutes added up from the call records" in broken.notes
    assert any("voicemail box unavailable" in note for note in broken.notes)
    assert {e["event"] for e in logs} >= {"report.summary_failed", "report.voicemail_failed"}
    assert all(n.summary is not None for n in report.numbers if n is not broken)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


async def test_the_chart_is_a_png_of_the_expected_size(
    make_client: Callable[..., Client], store: Store, world: World, now: int, tmp_path: Path
) -> None:
    set_the_day(world, now)
    report = await report_of(make_client, store, day(now), now)
    path = draw_chart(report, tmp_path / "chart.png")
    expected = chart_size(len(report.numbers))
    assert expected == (1200, 300 * len(report.numbers) + 100)
    assert png_size(path) == expected
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (expected[1], expected[0])
    assert pixels.std() > 0.01  # not a blank canvas: the bars and text drew something


async def refuse(prepared: PreparedReport) -> None:
    raise AssertionError(f"nothing is due, yet {prepared.report.period.key} was sent")


def first_seen(store: Store, world: World, at: int) -> None:
    """tossd's first start: it lists the account's numbers at `at`."""
    fields = ("extensionid", "did", "forward", "startdate", "enddate", "alias")
    listed = [ListedExtension(**{k: e[k] for k in fields}) for e in world.extensions.values()]
    store.sync_extensions(listed, at)


def tick_reporter(
    make_client: Callable[..., Client], store: Store, config: ReportConfig, tmp_path: Path
) -> Reporter:
    return Reporter.of(make_client(), store.stats(), config, [], tmp_path / "charts")


async def test_a_fresh_install_sends_no_report_for_a_day_that_ended_before_its_first_start(
    make_client: Callable[..., Client], store: Store, world: World, now: int, tmp_path: Path
) -> None:
    yesterday = local_yesterday(now)
    config = ReportConfig(notify=(SecretStr(f"tossd-file://{tmp_path / 'in'}"),), timezone=str(TZ))
    delivered: list[PreparedReport] = []

    async def deliver(prepared: PreparedReport) -> None:
        delivered.append(prepared)

    # First started at 10:00 today, three hours after yesterday's report was due.
    started = due_at(yesterday, config.at_time, TZ) + 3 * 3600
    first_seen(store, world, started)
    reporter = tick_reporter(make_client, store, config, tmp_path)
    assert await reporter.tick(now=started + 10, deliver=deliver) is None
    assert await reporter.tick(now=started + 3600, deliver=deliver) is None
    assert store.stats().last_report_date() is None
    # Today began before the first start, so its report goes out tomorrow, on time.
    tomorrow_due = due_at(yesterday + timedelta(days=1), config.at_time, TZ)
    sent = await reporter.tick(now=tomorrow_due + 5, deliver=deliver)
    assert sent is not None and not sent.report.late
    assert [p.report.period.first for p in delivered] == [yesterday + timedelta(days=1)]


async def test_a_restart_after_the_report_time_sends_it_exactly_once(
    make_client: Callable[..., Client],
    store: Store,
    world: World,
    now: int,
    tmp_path: Path,
    store_url: str,
) -> None:
    """Catch-up after downtime stays: the day is sent once, marked late."""
    yesterday = local_yesterday(now)
    config = ReportConfig(notify=(SecretStr(f"tossd-file://{tmp_path / 'in'}"),), timezone=str(TZ))
    first_seen(store, world, now - 5 * 86400)
    delivered: list[PreparedReport] = []

    async def deliver(prepared: PreparedReport) -> None:
        delivered.append(prepared)

    async def tick_in_a_new_process(at: int) -> PreparedReport | None:
        with Store.open(store_url, audio_dir=tmp_path / "audio") as other:
            return await tick_reporter(make_client, other, config, tmp_path).tick(
                now=at, deliver=deliver
            )

    started = due_at(yesterday, config.at_time, TZ) + 2 * 3600
    first = await tick_in_a_new_process(started)
    assert first is not None and first.report.period.first == yesterday and first.report.late
    assert await tick_in_a_new_process(started + 60) is None
    assert await tick_in_a_new_process(started + 3600) is None
    next_day = await tick_in_a_new_process(
        due_at(yesterday + timedelta(days=1), config.at_time, TZ) + 5
    )
    assert next_day is not None and not next_day.report.late
    assert [p.report.period.first for p in delivered] == [yesterday, yesterday + timedelta(days=1)]
    message = first.messages[0][1]
    assert [a.mime for a in message.attachments] == ["image/png"]
    assert "(late)" in message.title


def test_record_report_is_exactly_once_per_name_and_period(store: Store) -> None:
    stats, first = store.stats(), date(2026, 3, 8)
    assert stats.last_report_date() is None and not stats.report_recorded(first)
    assert stats.record_report(first, sent_at=1, late=False, summary_json="{}")
    assert not stats.record_report(first, sent_at=2, late=True, summary_json="{}")
    assert stats.record_report(first, sent_at=3, late=False, summary_json="{}", period="week")
    assert stats.record_report(first, sent_at=4, late=False, summary_json="{}", name="monthly")
    assert stats.record_report(date(2026, 3, 7), sent_at=5, late=False, summary_json="{}")
    assert stats.last_report_date() == first and stats.report_recorded(first)
    assert stats.last_report_date("report", "month") is None


def test_report_config_reads_toml_values_and_refuses_bad_ones() -> None:
    config = ReportConfig.model_validate(
        {"at": "06:30", "timezone": "Europe/Paris", "notify": ["json://127.0.0.1:9/"]}
        | {"extensions": ["+1 212 555 0134", 10002, "Sales"], "chart": False, "period": "month"}
    )
    assert config.at_time == time(6, 30) and config.period == "month"
    assert config.urls() == ["json://127.0.0.1:9/"]
    assert config.extensions == ("+1 212 555 0134", 10002, "Sales")
    assert "json://" not in repr(config)
    bad: list[dict[str, Any]] = [
        {"at": "7:00"},
        {"at": "24:00"},
        {"timezone": "Mars/Base"},
        {"chart": "yes"},
        {"period": "year"},
        {"week_starts": "someday"},
        {"name": "a b"},
    ]
    for values in bad:
        with pytest.raises(ValidationError):
            ReportConfig.model_validate(values)
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


def test_period_windows_follow_the_zone(now: int) -> None:
    month = period_of(PeriodKind.MONTH, date(2026, 11, 15))
    start, end = period_window(month, TZ)
    assert (end - start) == (30 * 24 + 1) * 3600  # November: clocks go back once


async def test_dry_run_on_a_state_dir_that_never_polled_prints_and_draws(
    sandbox: RunningSandbox,
    world: World,
    write_config: Callable[..., Path],
    run_tossd: Any,
    tmp_path: Path,
    now: int,
) -> None:
    set_the_day(world, now)
    inbox = tmp_path / "inbox"
    report = {"timezone": str(TZ), "notify": [f"tossd-file://{inbox}"], "label": "Acme"}
    path = write_config(sandbox.url, report=report)
    yesterday = local_yesterday(now).isoformat()
    code, out, err = await run_tossd(
        "report", "-c", str(path), "--date", yesterday, "--dry-run", "--out", str(tmp_path / "out")
    )
    assert code == 0, err
    truth = own_figures(world, *day_window(local_yesterday(now), TZ))
    calls = sum(t["calls"] for t in truth.values())
    missed = sum(t["missed"] for t in truth.values())
    assert out.startswith(f"tossd report {day(now).short}: {calls} calls, {missed} missed")
    assert "Spring promo · +1 212-555-0777 · ended 12:00" in out
    chart = tmp_path / "out" / f"tossd-report-{yesterday}.png"
    assert f"chart: {chart}" in out and png_size(chart)[0] == 1200
    assert not inbox.exists()  # nothing sent, nothing queued
    assert (
        not (tmp_path / "state" / "tossd.db").exists()
        or db_count(tmp_path / "state" / "tossd.db", "SELECT count(*) FROM deliveries") == 0
    )


async def test_a_failing_target_exits_1_and_the_daemon_delivers_it_later_once(
    sandbox: RunningSandbox,
    world: World,
    write_config: Callable[..., Path],
    run_tossd: Any,
    json_receiver: JsonReceiver,
    tmp_path: Path,
    now: int,
) -> None:
    """`tossd report` takes the daemon's path: planned into the ledger, delivered, waited
    for; the row it could not deliver is the daemon's to retry, and the period is recorded
    once, so the daemon never prepares a second copy."""
    set_the_day(world, now)
    path = write_config(
        sandbox.url,
        report={"timezone": str(TZ), "notify": [json_receiver.url()]},
        delivery={"interval_s": 0.2, "backoff_s": 0.2, "max_backoff_s": 0.5},
        poll={"interval_s": 60.0, "jitter_s": 0.0, "streams": ["calls"]},
    )
    json_receiver.fail_next(1)
    code, out, _ = await run_tossd("report", "-c", str(path))
    assert code == 1 and "FAILED" in out
    db = tmp_path / "state" / "tossd.db"
    assert db_rows(db, "SELECT state, attempts FROM deliveries") == [("retrying", 1)]
    assert db_rows(db, "SELECT name, period, day FROM reports") == [
        ("report", "day", local_yesterday(now).isoformat())
    ]
    config = load_config(path, {})
    stop = asyncio.Event()
    daemon = asyncio.create_task(Daemon(config).run(stop))
    try:
        [payload] = await json_receiver.wait_for(1, timeout=20)
        assert payload["title"].startswith(f"tossd report {day(now).short}: ")
        # The daemon's own report job finds the period recorded: nothing more is due.
        with open_store(db) as other:
            async with resources.open_client(config) as api:
                again = resources.open_reporter(api, other, config, ready_routes(config))
                assert await again.tick(now=now + 60, deliver=refuse) == []
    finally:
        stop.set()
        await daemon
    assert len(json_receiver.posts) == 1
    assert db_rows(db, "SELECT state, attempts FROM deliveries") == [("sent", 2)]
    assert db_count(db, "SELECT count(*) FROM reports") == 1


async def test_a_provider_that_wants_a_number_per_query_gives_the_same_figures(
    make_client: Callable[..., Client],
    store: Store,
    sandbox: RunningSandbox,
    world: World,
    now: int,
) -> None:
    """callRecords refused without an extension, smsGet without a DID: asked per number."""
    set_the_day(world, now)
    world.quirks.account_wide_calls = world.quirks.account_wide_sms = False
    report = await report_of(make_client, store, day(now), now)
    assert_equals_the_sandbox(report, world)
    assert sandbox.sandbox.requests["callRecords"] >= len(report.numbers)


async def test_an_account_without_texts_says_where_its_text_count_comes_from(
    make_client: Callable[..., Client], store: Store, world: World, now: int
) -> None:
    set_the_day(world, now)
    world.quirks.sms_enabled = False
    with capture_logs() as logs:
        report = await report_of(make_client, store, day(now), now)
    assert report.totals.texts == 0 and report.totals.calls > 0
    assert all("texts from tossd's records (0, received only)" in n.notes for n in report.numbers)
    assert [e["event"] for e in logs if e["event"].startswith("report.")] == [
        "report.texts_unavailable"
    ]


async def test_quiet_numbers_cost_no_request_of_their_own(
    make_client: Callable[..., Client],
    store: Store,
    sandbox: RunningSandbox,
    world: World,
    now: int,
) -> None:
    """callSummary only for numbers with calls, voicemail boxes only for numbers with a call
    something answered: a thousand quiet numbers cost nothing more."""
    set_the_day(world, now)
    start, end = day_window(local_yesterday(now), TZ)
    for n in range(20):
        world.add_extension(did=f"+1646555{n:04d}", forward="+1", startdate=start - 86400)
    requests = sandbox.sandbox.requests
    requests.clear()
    report = await report_of(make_client, store, day(now), now)
    assert len(report.numbers) == len(own_figures(world, start, end)) >= 24
    calls = [c for c in world.calls if start <= c["startdate"] < end]
    assert requests["callSummary"] == len({c["extensionid"] for c in calls})
    answered = {c["extensionid"] for c in calls if c["seconds"] > 0}
    assert requests["extensionVoicemailGet"] == len(answered) < len(report.numbers)
    assert_equals_the_sandbox(report, world)
