"""Retention against a real SQLite file: what is deleted, what must survive, in batches."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tossd.config.ops import RetentionConfig
from tossd.daemon.pruning import DAY_S, Cutoffs, cutoffs, prune
from tossd.domain import EventKind, NewEvent, StoredEvent, Stream
from tossd.store.engine import create_engine
from tossd.store.files import audio_filename, write_atomic
from tossd.store.ledger import Ledger
from tossd.store.records import PlannedDelivery
from tossd.store.retention import PRUNED_ATTEMPTS, Pruner
from tossd.store.store import Store

NOW = 1_700_000_000
OLD = NOW - 400 * DAY_S  # past both default limits (90 and 365 days)
MIDDLE = NOW - 200 * DAY_S  # audio goes, the event stays
RECENT = NOW - 10 * DAY_S
EXT = 7


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store


@pytest.fixture
def pruner(store: Store, store_url: str) -> Iterator[Pruner]:
    engine = create_engine(store_url)
    yield Pruner(engine, audio_dir=store.audio_dir)
    engine.dispose()


def record(store: Store, kind: EventKind, identity: str, at: int, announce: bool = True) -> int:
    event = NewEvent(kind, EXT, identity, at, announce, {"id": identity})
    stream = {EventKind.VOICEMAIL: Stream.VOICEMAIL, EventKind.SMS: Stream.SMS}
    result = store.record_batch(EXT, stream.get(kind, Stream.CALLS), [event], at, NOW)
    return result.new[0].id


def add_audio(store: Store, event_id: int) -> Path:
    data = f"mp3 of {event_id}".encode()
    name = audio_filename(event_id)
    write_atomic(store.audio_dir / name, data)
    digest = hashlib.sha256(data).hexdigest()
    store.record_audio(
        event_id, clipid=str(event_id), filename=name, size=len(data), sha256=digest, now=NOW
    )
    return store.audio_dir / name


def to_one_target(_event: StoredEvent) -> list[PlannedDelivery]:
    return [PlannedDelivery(route="all", target="t1", target_label="json://receiver")]


def deliveries(ledger: Ledger) -> dict[int | None, str]:
    return {d.event_id: d.state for d in ledger.listing(limit=1000)}


def event_ids(store: Store) -> set[int]:
    return {e.id for e in store.list_events()}


def test_cutoffs_are_days_before_now() -> None:
    config = RetentionConfig(audio_days=90, events_days=365)
    assert cutoffs(config, NOW) == Cutoffs(NOW - 90 * DAY_S, NOW - 365 * DAY_S)


def test_old_events_and_their_finished_deliveries_go_the_rest_stays(
    store: Store, pruner: Pruner
) -> None:
    ledger = store.ledger()
    sent = record(store, EventKind.SMS, "sms:sent", OLD)
    dead = record(store, EventKind.MISSED_CALL, "call:dead", OLD)
    owed = record(store, EventKind.CALL, "call:owed", OLD)
    history = record(store, EventKind.SMS, "sms:history", OLD, announce=False)
    recent = record(store, EventKind.SMS, "sms:recent", RECENT)
    assert ledger.plan(to_one_target, NOW) == 4
    rows = {d.event_id: d.id for d in ledger.listing()}
    ledger.mark_sent([rows[sent], rows[recent]], NOW)
    ledger.mark_failed([rows[dead]], "receiver gone", None)
    ledger.mark_failed([rows[owed]], "receiver down", NOW + 60)
    # Announced after the last planning pass: its notification is still to be planned.
    unplanned = record(store, EventKind.SMS, "sms:unplanned", OLD)

    report = prune(pruner, RetentionConfig(), NOW)

    assert (report.events, report.deliveries, report.complete) == (3, 2, True)
    assert event_ids(store) == {owed, recent, unplanned}
    assert deliveries(ledger) == {owed: "retrying", recent: "sent"}
    assert history not in event_ids(store)


def test_voicemail_audio_goes_after_audio_days_and_is_never_fetched_again(
    store: Store, pruner: Pruner
) -> None:
    old_vm = record(store, EventKind.VOICEMAIL, "voicemail:7:1", OLD)
    middle_vm = record(store, EventKind.VOICEMAIL, "voicemail:7:2", MIDDLE)
    recent_vm = record(store, EventKind.VOICEMAIL, "voicemail:7:3", RECENT)
    files = {event_id: add_audio(store, event_id) for event_id in (old_vm, middle_vm, recent_vm)}
    files[old_vm].unlink()  # already gone (an earlier run deleted it, then failed to commit)

    with capture_logs() as logs:
        report = prune(pruner, RetentionConfig(), NOW)

    assert (report.audio_rows, report.audio_files) == (2, 1)
    assert [f.exists() for f in files.values()] == [False, False, True]
    assert store.audio_for(old_vm) is None and store.audio_for(middle_vm) is None
    assert store.audio_for(recent_vm) is not None
    # Voicemail events stay: the mailbox is fetched whole and would bring them back as new.
    assert event_ids(store) == {old_vm, middle_vm, recent_vm}
    assert store.voicemails_missing_audio(max_attempts=10**6) == []
    assert logs == [
        {
            "event": "retention.pruned",
            "log_level": "info",
            "audio_rows": 2,
            "audio_files": 1,
            "events": 0,
            "deliveries": 0,
            "complete": True,
        }
    ]


def test_a_voicemail_that_failed_before_is_marked_pruned_too(store: Store, pruner: Pruner) -> None:
    vm = record(store, EventKind.VOICEMAIL, "voicemail:7:9", MIDDLE)
    store.record_audio_failure(vm, "timeout", NOW)
    add_audio(store, vm)
    prune(pruner, RetentionConfig(), NOW)
    # Saturated: one more would overflow PostgreSQL's INTEGER (test_column_ranges).
    assert store.record_audio_failure(vm, "again?", NOW) == PRUNED_ATTEMPTS


def test_finished_deliveries_of_no_event_go_with_the_events(store: Store, pruner: Pruner) -> None:
    ledger = store.ledger()
    planned = [PlannedDelivery("report", "t1", "json://receiver")]
    ledger.add("report", planned, '{"title": "old"}', OLD)
    ledger.add("report", planned, '{"title": "owed"}', OLD)
    ledger.add("report", planned, '{"title": "new"}', RECENT)
    old, owed, new = sorted(d.id for d in ledger.listing())
    ledger.mark_sent([old, new], NOW)

    assert prune(pruner, RetentionConfig(), NOW).deliveries == 1
    assert sorted(d.id for d in ledger.listing()) == [owed, new]


def test_batches_cover_everything_and_stop_at_max_batches(store: Store, pruner: Pruner) -> None:
    events = [NewEvent(EventKind.SMS, EXT, f"sms:{i}", OLD + i, False, {}) for i in range(25)]
    store.record_batch(EXT, Stream.SMS, events, OLD + 25, NOW)

    partial = prune(pruner, RetentionConfig(), NOW, batch=4, max_batches=3)
    assert (partial.events, partial.complete) == (12, False)
    rest = prune(pruner, RetentionConfig(), NOW, batch=4)
    assert (rest.events, rest.complete) == (13, True)
    assert store.count_events() == 0
    assert prune(pruner, RetentionConfig(), NOW, batch=4).events == 0


@pytest.mark.parametrize(
    ("days", "kept"),
    [({"events_days": 1}, {"sms:recent"}), ({"events_days": 500}, {"sms:old", "sms:recent"})],
)
def test_events_days_is_honoured(
    store: Store, pruner: Pruner, days: dict[str, Any], kept: set[str]
) -> None:
    record(store, EventKind.SMS, "sms:old", OLD, announce=False)
    record(store, EventKind.SMS, "sms:recent", NOW - 3600, announce=False)
    prune(pruner, RetentionConfig(**days), NOW)
    assert {e.identity for e in store.list_events()} == kept


async def test_prune_runs_in_a_worker_thread(store: Store, pruner: Pruner) -> None:
    """The daemon may run it off the event loop: SQLite file connections cross threads."""
    record(store, EventKind.SMS, "sms:old", OLD, announce=False)
    report = await asyncio.to_thread(prune, pruner, RetentionConfig(), NOW)
    assert report.events == 1
