"""Health: the pure judgement, /healthz and /metrics on loopback, and `tossd health`."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pydantic import ValidationError
from support.clock import ManualClock
from support.store import open_store, sqlite_url

from tossd.config.model import Config, PollConfig
from tossd.config.ops import HealthConfig, Listen, parse_listen
from tossd.daemon.health import (
    START_FILE,
    HealthCheck,
    check_health,
    judge,
    read_start,
    record_start,
    stream_intervals,
)
from tossd.daemon.http import HealthServer, serve_health
from tossd.daemon.metrics import Metrics
from tossd.domain import EventKind, KnownExtension, ListedExtension, NewEvent, Stream, StreamReport
from tossd.errors import ListenError
from tossd.store.ledger_stats import StoreFacts
from tossd.store.records import PlannedDelivery, PollState
from tossd.store.store import Store

NOW = 1_700_000_000
INTERVAL = 60.0
EXT = KnownExtension(extensionid=7, did="15550007", alias="office", startdate=0, enddate=0)


def state(stream: Stream, last_success_at: int | None, error: str | None = None) -> PollState:
    return PollState(7, stream, None, last_success_at, NOW, error, 0 if error is None else 2, None)


# The pure judgement


@pytest.mark.parametrize(
    ("states", "started_at", "now", "ok"),
    [
        pytest.param([], NOW, NOW + 179, True, id="never-polled-within-grace"),
        pytest.param([], NOW, NOW + 181, False, id="never-polled-after-grace"),
        pytest.param([], None, NOW, False, id="never-polled-no-start-known"),
        pytest.param([state(Stream.SMS, NOW)], None, NOW + 180, True, id="fresh-enough"),
        pytest.param([state(Stream.SMS, NOW)], None, NOW + 181, False, id="stale"),
        pytest.param([state(Stream.SMS, NOW - 86400)], NOW, NOW + 10, True, id="restarted"),
        pytest.param([state(Stream.SMS, NOW - 86400)], NOW, NOW + 181, False, id="restart-stale"),
    ],
)
def test_a_stream_is_healthy_within_three_intervals(
    states: list[PollState], started_at: float | None, now: float, ok: bool
) -> None:
    report = judge([EXT], 1, states, {"sms": INTERVAL}, now, started_at)
    assert report.ok is ok
    assert len(report.reasons) == (0 if ok else 1)


def test_reasons_name_the_stream_the_number_the_age_and_the_error() -> None:
    states = [state(Stream.CALLS, NOW - 600, "API timed out"), state(Stream.SMS, NOW)]
    report = judge([EXT], 1, states, {"calls": 300.0, "sms": INTERVAL}, NOW + 200, None)
    assert report.reasons == ("sms of office (7): last success 200s ago",)
    report = judge([EXT], 1, states, {"calls": 60.0, "sms": INTERVAL}, NOW + 200, None)
    assert report.reasons == (
        "calls of office (7): last success 800s ago: API timed out",
        "sms of office (7): last success 200s ago",
    )
    assert [s.healthy for s in report.streams] == [False, False]


def test_no_number_known_is_unhealthy_once_the_grace_is_over() -> None:
    assert judge([], 0, [], {"sms": INTERVAL}, NOW + 100, NOW).ok
    late = judge([], 0, [], {"sms": INTERVAL}, NOW + 200, NOW)
    assert late.reasons == ("no number known: the extension list was never fetched",)
    # Numbers that all ended leave nothing to poll, and nothing wrong.
    assert judge([], 3, [], {"sms": INTERVAL}, NOW + 200, NOW).ok


def test_only_configured_streams_count() -> None:
    states = [state(Stream.SMS, NOW), state(Stream.CALLS, NOW - 86400)]
    assert judge([EXT], 1, states, {"sms": INTERVAL}, NOW + 10, None).ok


def test_stream_intervals_follow_overrides() -> None:
    poll = PollConfig(interval_s=60.0, sms_interval_s=15.0, streams=("calls", "sms"))
    assert stream_intervals(poll) == {"calls": 60.0, "sms": 15.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9187", Listen("127.0.0.1", 9187)),
        ("localhost:1", Listen("localhost", 1)),
        ("[::1]:9187", Listen("::1", 9187)),
        ("0.0.0.0:65535", Listen("0.0.0.0", 65535)),
    ],
)
def test_listen_addresses(text: str, expected: Listen) -> None:
    assert parse_listen(text) == expected
    assert HealthConfig(listen=text).address == expected


@pytest.mark.parametrize(
    "text", ["9187", ":9187", "127.0.0.1:", "127.0.0.1:x", "::1:9187", "[nope]:1", "h:0", "h:65536"]
)
def test_bad_listen_addresses_are_config_errors(text: str) -> None:
    with pytest.raises(ValidationError, match="listen"):
        HealthConfig(listen=text)


def test_health_is_off_by_default_and_port_zero_is_for_tests() -> None:
    assert HealthConfig().address is None
    assert parse_listen("127.0.0.1:0", allow_port_zero=True) == Listen("127.0.0.1", 0)


# Against the store, over HTTP


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with open_store(db_path) as opened:
        opened.sync_extensions(
            [ListedExtension(extensionid=7, did="15550007", alias="office")], NOW
        )
        yield opened


@pytest.fixture
def facts(store: Store, db_url: str) -> Iterator[StoreFacts]:
    with StoreFacts.open_existing(db_url) as opened:
        yield opened


def poll_everything(store: Store, at: int) -> None:
    for stream in Stream:
        store.record_batch(7, stream, [], None, at)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def metrics(facts: StoreFacts, clock: ManualClock) -> Metrics:
    made = Metrics(streams=[s.value for s in Stream])
    made.watch_store(facts, [s.value for s in Stream], clock=clock)
    return made


@pytest.fixture
async def server(
    facts: StoreFacts, clock: ManualClock, metrics: Metrics
) -> AsyncIterator[HealthServer]:
    intervals = {s.value: INTERVAL for s in Stream}
    check = HealthCheck(facts, intervals, started_at=NOW, clock=clock)
    async with serve_health("127.0.0.1:0", check.report, metrics) as running:
        yield running


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_healthz_turns_503_with_reasons_once_a_stream_is_stale(
    store: Store, server: HealthServer, clock: ManualClock
) -> None:
    assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")
    status, content_type, body = await get(f"{server.url}/healthz")
    assert (status, json.loads(body)["ok"]) == (200, True)
    assert content_type.startswith("application/json")

    poll_everything(store, NOW + 100)
    store.record_failure(7, Stream.SMS, "API timed out", NOW + 200)
    clock.now = NOW + 100 + 3 * INTERVAL
    assert (await get(f"{server.url}/healthz"))[0] == 200

    clock.now += 1
    status, _, body = await get(f"{server.url}/healthz")
    report = json.loads(body)
    assert status == 503
    assert report["ok"] is False
    assert report["reasons"] == [
        "calls of office (7): last success 181s ago",
        "voicemail of office (7): last success 181s ago",
        "sms of office (7): last success 181s ago: API timed out",
    ]
    assert {(s["stream"], s["healthy"]) for s in report["streams"]} == {
        ("calls", False),
        ("sms", False),
        ("voicemail", False),
    }


def samples(text: str) -> dict[str, list[Sample]]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(found: dict[str, list[Sample]], name: str, **labels: str) -> float:
    family = name.removesuffix("_total")
    return next(
        s.value
        for s in found[family]
        if s.name == name and all(s.labels[k] == v for k, v in labels.items())
    )


async def test_metrics_expose_the_documented_names(
    store: Store, server: HealthServer, clock: ManualClock, metrics: Metrics
) -> None:
    poll_everything(store, NOW)
    event = NewEvent(EventKind.MISSED_CALL, 7, "call:1", NOW - 500, True, {})
    new = store.record_batch(7, Stream.CALLS, [event], NOW, NOW).new
    ledger = store.ledger()
    ledger.plan(
        lambda _e: [PlannedDelivery("r", "t1", "json://a"), PlannedDelivery("r", "t2", "json://b")],
        NOW - 30,
    )
    first, _ = sorted(d.id for d in ledger.listing())
    ledger.mark_sent([first], NOW)
    metrics.record_poll(StreamReport(Stream.CALLS, extensions=4, failed=1, new_events=new))
    metrics.record_api_call("callRecords", None)
    metrics.record_api_call("callRecords", "ApiTimeout")
    metrics.record_api_call("smsGet", "an error message, not a class name")
    clock.now = NOW + 100

    status, content_type, body = await get(f"{server.url}/metrics")

    assert status == 200 and content_type.startswith("text/plain")
    found = samples(body)
    assert {
        "tossd_polls",
        "tossd_api_requests",
        "tossd_api_errors",
        "tossd_new_events",
        "tossd_stored_events",
        "tossd_deliveries",
        "tossd_ledger_depth",
        "tossd_oldest_pending_delivery_age_seconds",
        "tossd_last_success_timestamp_seconds",
        "tossd_store_up",
    } <= set(found)
    assert value(found, "tossd_polls_total", stream="calls", outcome="ok") == 3
    assert value(found, "tossd_polls_total", stream="calls", outcome="failed") == 1
    assert value(found, "tossd_polls_total", stream="sms", outcome="ok") == 0
    assert value(found, "tossd_api_requests_total", method="callRecords") == 2
    assert value(found, "tossd_api_errors_total", method="callRecords", error="ApiTimeout") == 1
    assert value(found, "tossd_api_errors_total", method="smsGet", error="other") == 1
    assert value(found, "tossd_new_events_total", kind="missed_call") == 1
    assert value(found, "tossd_stored_events", kind="missed_call") == 1
    assert value(found, "tossd_stored_events", kind="sms") == 0
    assert value(found, "tossd_deliveries", state="sent") == 1
    assert value(found, "tossd_deliveries", state="pending") == 1
    assert value(found, "tossd_ledger_depth") == 1
    assert value(found, "tossd_oldest_pending_delivery_age_seconds") == 130
    assert value(found, "tossd_last_success_timestamp_seconds", stream="sms", extension="7") == NOW
    assert value(found, "tossd_store_up") == 1


def test_metrics_use_their_own_registry(facts: StoreFacts) -> None:
    first, second = Metrics(streams=["sms"]), Metrics(streams=["sms"])
    first.record_api_call("smsGet", None)
    assert first.registry is not second.registry
    assert (
        prometheus_client.REGISTRY.get_sample_value(
            "tossd_api_requests_total", {"method": "smsGet"}
        )
        is None
    )
    assert (
        second.registry.get_sample_value("tossd_api_requests_total", {"method": "smsGet"}) is None
    )


def test_an_unreadable_store_reads_as_down_not_as_a_failed_scrape(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    with StoreFacts.open_existing(sqlite_url(tmp_path / "empty.db")) as broken:
        metrics = Metrics()
        metrics.watch_store(broken, ["sms"])
        body, _ = metrics.render()
    found = samples(body.decode())
    assert value(found, "tossd_store_up") == 0
    assert "tossd_deliveries" not in found


async def test_without_metrics_only_healthz_is_served(
    facts: StoreFacts, clock: ManualClock
) -> None:
    check = HealthCheck(facts, {"sms": INTERVAL}, started_at=NOW, clock=clock)
    async with serve_health("127.0.0.1:0", check.report) as running:
        assert (await get(f"{running.url}/healthz"))[0] == 200
        async with aiohttp.ClientSession() as session, session.get(f"{running.url}/metrics") as r:
            assert r.status == 404


async def test_an_address_in_use_is_a_listen_error(facts: StoreFacts, server: HealthServer) -> None:
    check = HealthCheck(facts, {"sms": INTERVAL})
    taken = server.url.removeprefix("http://")
    with pytest.raises(ListenError, match=r"health\.listen: cannot listen on"):
        async with serve_health(taken, check.report):
            pass


# `tossd health`


def make_config(tmp_path: Path, **poll: Any) -> Config:
    return Config(state_dir=tmp_path / "state", poll=PollConfig(**poll))


@pytest.mark.usefixtures("store")
def test_check_health_exit_codes_follow_the_same_facts(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, interval_s=INTERVAL, streams=("calls", "sms"))
    poll_everything(store, NOW)
    out = io.StringIO()
    assert check_health(config, now=NOW + 180, out=out) == 0
    assert out.getvalue() == "healthy: 2 streams polled on time\n"
    out = io.StringIO()
    assert check_health(config, now=NOW + 181, out=out) == 1
    assert out.getvalue().splitlines() == [
        "unhealthy:",
        "  calls of office (7): last success 181s ago",
        "  sms of office (7): last success 181s ago",
    ]


@pytest.mark.usefixtures("store")
def test_check_health_grants_the_grace_from_the_daemon_start(tmp_path: Path) -> None:
    config = make_config(tmp_path, interval_s=INTERVAL)
    assert check_health(config, now=NOW, out=io.StringIO()) == 1
    record_start(config.state_dir, NOW)
    assert read_start(config.state_dir) == NOW
    assert check_health(config, now=NOW + 100, out=io.StringIO()) == 0
    assert check_health(config, now=NOW + 200, out=io.StringIO()) == 1


def test_check_health_without_a_database_fails_and_creates_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    out = io.StringIO()
    assert check_health(config, now=NOW, out=out) == 1
    assert "the daemon has not run yet" in out.getvalue()
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("content", [b"", b"{", b"[1]", b'{"started_at": "soon"}'])
def test_a_damaged_start_file_means_no_grace(tmp_path: Path, content: bytes) -> None:
    (tmp_path / START_FILE).write_bytes(content)
    assert read_start(tmp_path) is None


def test_budget_use_and_stretched_rounds_are_metrics() -> None:
    clock = ManualClock(1000.0)
    metrics = Metrics(streams=["calls", "sms"], budget_per_s=2.0, clock=clock)
    for _ in range(30):  # 30 requests in a minute of a 2/s budget: a quarter of it
        metrics.record_api_call("callRecords", None)
        clock.now += 1.0
    assert metrics.registry.get_sample_value("tossd_api_budget_utilization") == 0.25
    clock.now += 60.0  # a quiet minute later nothing is in use
    assert metrics.registry.get_sample_value("tossd_api_budget_utilization") == 0.0
    metrics.record_poll(StreamReport(Stream.CALLS, extensions=4, round_s=60.0))
    metrics.record_poll(StreamReport(Stream.SMS, extensions=1000, round_s=240.0))
    rounds = {
        stream: metrics.registry.get_sample_value("tossd_cycle_seconds", {"stream": stream})
        for stream in ("calls", "sms")
    }
    assert rounds == {"calls": 60.0, "sms": 240.0}
