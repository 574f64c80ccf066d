"""The event store against a real SQLite file in tmp_path."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from support.cli import run_python
from support.store import sqlite_url

from tossd.domain import EventKind, ListedExtension, NewEvent, Stream
from tossd.errors import StoreError
from tossd.store.engine import create_engine
from tossd.store.files import (
    TEMP_PREFIX,
    ensure_private_dir,
    make_private,
    remove_orphan_temps,
    write_atomic,
)
from tossd.store.migrate import SCRIPT_LOCATION
from tossd.store.revision import HEAD_REVISION, current_revision, migrate_in_child
from tossd.store.store import Store
from tossd.store.tables import metadata

NOW = 1_700_000_000


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def make_event(identity: str = "sms:1", **overrides: Any) -> NewEvent:
    fields: dict[str, Any] = {
        "kind": EventKind.SMS,
        "extensionid": 7,
        "identity": identity,
        "occurred_at": NOW - 60,
        "announce": True,
        "payload": {"message": "hello", "smsid": identity},
    }
    fields.update(overrides)
    return NewEvent(**fields)


def voicemail(vmid: int, **overrides: Any) -> NewEvent:
    return make_event(
        f"voicemail:7:{vmid}", kind=EventKind.VOICEMAIL, occurred_at=NOW + vmid, **overrides
    )


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """A permissive umask, so the modes we assert come from the code, not the environment."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_open_makes_private_dirs_and_files(store: Store, db_path: Path) -> None:
    store.count_events()  # a pooled connection keeps -wal and -shm in place
    assert mode(db_path.parent) == 0o700
    assert mode(store.audio_dir) == 0o700
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        assert mode(path) == 0o600, path


def test_open_tightens_an_existing_audio_dir_and_sweeps_temps(db_url: str, tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir(mode=0o755)
    (audio / f"{TEMP_PREFIX}crashed").write_bytes(b"half")
    (audio / "00000001.mp3").write_bytes(b"mp3")
    with Store.open(db_url, audio_dir=audio):
        pass
    assert mode(audio) == 0o700
    assert sorted(p.name for p in audio.iterdir()) == ["00000001.mp3"]


def test_open_leaves_an_existing_db_dir_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    with Store.open(sqlite_url(shared / "tossd.db"), audio_dir=tmp_path / "audio"):
        pass
    assert (mode(shared), mode(shared / "tossd.db")) == (0o755, 0o600)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_open_refuses_in_memory_sqlite(url: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="database file"):
        Store.open(url, audio_dir=tmp_path / "audio")


def test_pragmas_in_effect(store: Store, db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            values = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert values == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,
        "busy_timeout": 5000,
    }


def test_migrations_are_idempotent_and_match_the_tables(store_url: str, tmp_path: Path) -> None:
    """On SQLite and PostgreSQL alike: the migrated schema is the tables' schema."""
    with Store.open(store_url, audio_dir=tmp_path / "audio") as first:
        first.record_batch(7, Stream.SMS, [make_event()], watermark=1, now=NOW)
    with Store.open(store_url, audio_dir=tmp_path / "audio") as second:
        assert second.count_events() == 1
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            # Alembic compares no index predicates: the partial index is checked here.
            definition = connection.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_events_unplanned'"
                if store_url.startswith("postgresql")
                else "SELECT sql FROM sqlite_master WHERE name = 'ix_events_unplanned'"
            ).scalar_one()
            assert "WHERE" in definition and "planned_at IS NULL" in definition
            # The comparison is real: a missing index shows up.
            connection.exec_driver_sql("DROP INDEX ix_events_kind")
            assert compare_metadata(context, metadata) != []
    finally:
        engine.dispose()
    head = ScriptDirectory(str(SCRIPT_LOCATION)).get_current_head()
    assert head is not None and versions == [(head,)]


def test_open_refuses_a_file_that_is_not_a_database(db_path: Path, db_url: str) -> None:
    db_path.parent.mkdir()
    db_path.write_bytes(b"this is not SQLite " * 100)
    with pytest.raises(StoreError, match="could not migrate"):
        Store.open(db_url, audio_dir=db_path.parent / "audio")


def test_open_errors_never_show_the_password(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as raised:
        Store.open("postgresql://tossd:s3cret@127.0.0.1:1/tossd", audio_dir=tmp_path / "a")
    assert "s3cret" not in str(raised.value)
    assert "***" in str(raised.value)


def test_record_batch_stores_new_events_once(store: Store) -> None:
    events = [make_event("sms:1"), make_event("sms:2", occurred_at=NOW - 30)]
    first = store.record_batch(7, Stream.SMS, events, watermark=NOW - 30, now=NOW)
    again = store.record_batch(7, Stream.SMS, events, watermark=NOW - 30, now=NOW + 60)
    assert [(e.identity, e.recorded_at, e.kind) for e in first.new] == [
        ("sms:1", NOW, EventKind.SMS),
        ("sms:2", NOW, EventKind.SMS),
    ]
    assert first.new[0].payload == {"message": "hello", "smsid": "sms:1"}
    assert (first.updated, first.seen) == (0, 0)
    assert (again.new, again.updated, again.seen) == ([], 0, 2)
    assert store.count_events() == 2
    assert store.list_events() == first.new


def test_record_batch_beyond_one_lookup_chunk(store: Store) -> None:
    events = [make_event(f"sms:{n}", payload={"n": n}) for n in range(1201)]
    assert len(store.record_batch(7, Stream.SMS, events, 1, NOW).new) == 1201
    events[1100] = make_event("sms:1100", payload={"n": -1})
    again = store.record_batch(7, Stream.SMS, events, 1, NOW + 1)
    assert (again.new, again.updated, again.seen) == ([], 1, 1201)
    assert store.count_events() == 1201


def test_record_batch_without_returning(db_url: str, tmp_path: Path) -> None:
    """SQLite before 3.35 has no RETURNING: the new ids are read back through the index."""
    Store.open(db_url, audio_dir=tmp_path / "audio").close()
    engine = create_engine(db_url)
    engine.dialect.insert_returning = False  # what SQLAlchemy itself sets for SQLite < 3.35
    with Store(engine, audio_dir=tmp_path / "audio") as old_sqlite:
        events = [make_event(f"sms:{n}", payload={"n": n}) for n in range(3)]
        first = old_sqlite.record_batch(7, Stream.SMS, events, 1, NOW)
        again = old_sqlite.record_batch(7, Stream.SMS, events, 1, NOW + 1)
        assert first.new == old_sqlite.list_events()
        assert [e.payload for e in first.new] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert (again.new, again.seen) == ([], 3)


def test_changed_payload_is_updated_in_place(store: Store) -> None:
    (stored,) = store.record_batch(7, Stream.SMS, [make_event()], None, NOW).new
    changed = make_event(payload={"message": "hello", "read": 1})
    result = store.record_batch(7, Stream.SMS, [changed, make_event("sms:2")], None, NOW + 5)
    assert (len(result.new), result.updated, result.seen) == (1, 1, 1)
    (updated, _) = store.list_events()
    assert updated.id == stored.id
    assert updated.recorded_at == NOW
    assert updated.payload == {"message": "hello", "read": 1}


def test_poll_state_bookkeeping(store: Store) -> None:
    assert store.poll_state(7, Stream.CALLS) is None
    assert store.record_failure(7, Stream.CALLS, "timeout", NOW) == 1
    assert store.record_failure(7, Stream.CALLS, "x" * 2000, NOW + 1) == 2
    failing = store.poll_state(7, Stream.CALLS)
    assert failing is not None
    assert (failing.watermark, failing.first_polled_at, failing.last_success_at) == (None,) * 3
    assert failing.last_error == "x" * 500
    assert failing.last_attempt_at == NOW + 1

    store.record_batch(7, Stream.CALLS, [], watermark=NOW - 100, now=NOW + 2)
    store.record_batch(7, Stream.CALLS, [], watermark=NOW - 50, now=NOW + 3)
    assert store.record_failure(7, Stream.CALLS, "again", NOW + 4) == 1
    state = store.poll_state(7, Stream.CALLS)
    assert state is not None
    assert state.stream is Stream.CALLS
    assert (state.watermark, state.first_polled_at, state.last_success_at) == (
        NOW - 50,
        NOW + 2,
        NOW + 3,
    )
    assert (state.last_error, state.last_attempt_at, state.consecutive_failures) == (
        "again",
        NOW + 4,
        1,
    )
    assert store.poll_state(7, Stream.SMS) is None


def test_failed_batch_changes_nothing(store: Store) -> None:
    store.record_batch(7, Stream.SMS, [make_event("sms:1")], watermark=10, now=NOW)
    before = store.poll_state(7, Stream.SMS)
    batch = [
        make_event("sms:1", payload={"message": "edited"}),  # an update that must roll back
        make_event("sms:2"),
        make_event("sms:2"),  # the same identity twice: the insert fails
    ]
    with pytest.raises(StoreError, match="record a batch"):
        store.record_batch(7, Stream.SMS, batch, watermark=99, now=NOW + 60)
    assert [e.identity for e in store.list_events()] == ["sms:1"]
    assert store.list_events()[0].payload["message"] == "hello"
    assert store.poll_state(7, Stream.SMS) == before


def test_unserialisable_payload_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="not JSON"):
        store.record_batch(7, Stream.SMS, [make_event(payload={"x": object()})], 1, NOW)
    assert store.count_events() == 0
    assert store.poll_state(7, Stream.SMS) is None


def test_voicemails_missing_audio(store: Store) -> None:
    batch = [
        voicemail(1),
        voicemail(2, announce=False),  # history: never fetched
        voicemail(3),  # has audio
        voicemail(4),  # failed twice
        voicemail(5),
        make_event("sms:9"),  # not a voicemail
    ]
    ids = {e.identity: e.id for e in store.record_batch(7, Stream.VOICEMAIL, batch, 5, NOW).new}
    store.record_audio(
        ids["voicemail:7:3"], clipid="c3", filename="00000003.mp3", size=3, sha256="ab", now=NOW
    )
    assert store.record_audio_failure(ids["voicemail:7:4"], "HTTP 500", NOW) == 1
    assert store.record_audio_failure(ids["voicemail:7:4"], "HTTP 500", NOW + 1) == 2

    def missing(max_attempts: int, limit: int = 100) -> list[str]:
        found = store.voicemails_missing_audio(max_attempts=max_attempts, limit=limit)
        return [e.identity for e in found]

    assert missing(2) == ["voicemail:7:1", "voicemail:7:5"]
    assert missing(3) == ["voicemail:7:1", "voicemail:7:4", "voicemail:7:5"]
    assert missing(3, limit=2) == ["voicemail:7:1", "voicemail:7:4"]


def test_audio_rows(store: Store) -> None:
    (event,) = store.record_batch(7, Stream.VOICEMAIL, [voicemail(1)], 1, NOW).new
    assert store.audio_for(event.id) is None
    store.record_audio(event.id, clipid="c1", filename="00000001.mp3", size=9, sha256="f0", now=NOW)
    audio = store.audio_for(event.id)
    assert audio is not None
    assert (audio.filename, audio.size, audio.sha256) == ("00000001.mp3", 9, "f0")
    assert audio.path == store.audio_dir / "00000001.mp3"
    with pytest.raises(StoreError, match="record audio"):  # one audio row per event
        store.record_audio(event.id, clipid="c1", filename="again.mp3", size=9, sha256="f0", now=1)
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.record_audio(999, clipid="c", filename="x.mp3", size=1, sha256="0", now=NOW)
    with pytest.raises(StoreError, match="plain file name"):
        store.record_audio(event.id, clipid="c", filename="../x.mp3", size=1, sha256="0", now=1)
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.record_audio_failure(999, "nope", NOW)


def test_list_and_count_events(store: Store) -> None:
    batch = [
        make_event("call:a", kind=EventKind.CALL, occurred_at=300),
        make_event("call:b", kind=EventKind.MISSED_CALL, occurred_at=100),
        make_event("sms:c", occurred_at=200),
        make_event("sms:d", occurred_at=200),
    ]
    store.record_batch(7, Stream.SMS, batch, 300, NOW)

    def ids(**filters: Any) -> list[str]:
        return [e.identity for e in store.list_events(**filters)]

    assert ids() == ["call:b", "sms:c", "sms:d", "call:a"]
    assert ids(kind="sms") == ["sms:c", "sms:d"]
    assert ids(since=200) == ["sms:c", "sms:d", "call:a"]
    assert ids(limit=2) == ["sms:d", "call:a"]
    assert ids(kind="sms", since=150, limit=1) == ["sms:d"]
    assert store.count_events() == 4
    assert store.count_events("missed_call") == 1
    assert store.count_events("voicemail") == 0


def test_sync_extensions(store: Store) -> None:
    first = store.sync_extensions(
        [
            ListedExtension(extensionid=1, did="15550001", alias="office"),
            ListedExtension(extensionid=2, startdate=NOW + 100),  # not started yet
        ],
        NOW,
    )
    assert (first.added, first.ended) == ([1], [])
    assert [e.extensionid for e in store.active_extensions()] == [1]

    later = NOW + 200
    second = store.sync_extensions([ListedExtension(extensionid=2, startdate=NOW + 100)], later)
    assert (second.added, second.ended) == ([2], [1])
    assert [e.extensionid for e in store.active_extensions()] == [2]
    kept = store.get_extension(1)
    assert kept is not None
    assert (kept.did, kept.alias) == ("15550001", "office")
    assert store.get_extension(99) is None

    third = store.sync_extensions([ListedExtension(extensionid=2, enddate=later + 1)], later + 1)
    assert (third.added, third.ended) == ([], [2])
    assert store.active_extensions() == []


def test_integrity_check(store: Store) -> None:
    store.record_batch(7, Stream.SMS, [make_event()], 1, NOW)
    assert store.integrity_check() == "ok"


def test_write_atomic_writes_a_private_file(tmp_path: Path) -> None:
    target = tmp_path / "00000001.mp3"
    target.write_bytes(b"old")
    write_atomic(target, b"new audio")
    assert target.read_bytes() == b"new audio"
    assert mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.parametrize("target", ["a-directory", "missing-dir/file.mp3"])
def test_write_atomic_leaves_no_temp_on_failure(tmp_path: Path, target: str) -> None:
    (tmp_path / "a-directory").mkdir()
    with pytest.raises(StoreError, match="could not write"):
        write_atomic(tmp_path / target, b"data")
    assert not [p for p in tmp_path.rglob(f"{TEMP_PREFIX}*")]


def test_remove_orphan_temps(tmp_path: Path) -> None:
    for name in (f"{TEMP_PREFIX}1-a.mp3", f"{TEMP_PREFIX}2-b.mp3", "00000001.mp3"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f"{TEMP_PREFIX}dir").mkdir()
    assert remove_orphan_temps(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-dir", "00000001.mp3"]
    assert remove_orphan_temps(tmp_path / "absent") == 0


def test_private_dirs_and_files(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    ensure_private_dir(existing)
    ensure_private_dir(tmp_path / "new" / "nested")
    assert (mode(existing), mode(tmp_path / "new" / "nested")) == (0o700, 0o700)

    db = tmp_path / "t.db"
    for path in (db, tmp_path / "t.db-wal"):
        path.write_bytes(b"")
        path.chmod(0o644)
    make_private(db)
    assert (mode(db), mode(tmp_path / "t.db-wal")) == (0o600, 0o600)
    assert not (tmp_path / "t.db-shm").exists()


def test_head_revision_is_alembics_head() -> None:
    """`HEAD_REVISION` decides whether Alembic is loaded at all: it must be the scripts' head."""
    scripts = ScriptDirectory(str(SCRIPT_LOCATION))
    assert scripts.get_heads() == [HEAD_REVISION]


def test_a_current_database_opens_without_loading_alembic(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "tossd.db")
    Store.open(url, audio_dir=tmp_path / "audio").close()  # creates and migrates
    probe = (
        "import sys; from pathlib import Path; from tossd.store.store import Store; "
        f"Store.open({url!r}, audio_dir=Path({str(tmp_path / 'audio')!r})).close(); "
        "print('alembic' in sys.modules)"
    )
    out = run_python(probe, check=True)
    assert out.stdout.strip() == "False"


def test_the_daemon_migrates_in_a_child_and_never_loads_alembic(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "tossd.db")
    probe = (
        "import sys; from pathlib import Path; from tossd.store.store import Store; "
        f"s = Store.open({url!r}, audio_dir=Path({str(tmp_path / 'audio')!r}), "
        "migrate_in_child=True); s.close(); print('alembic' in sys.modules)"
    )
    out = run_python(probe, check=True)
    assert out.stdout.strip() == "False"
    assert current_revision(url) == HEAD_REVISION  # and yet the database was migrated


def test_a_failed_migration_in_a_child_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "tossd.db"
    db.write_bytes(b"this is not SQLite " * 100)
    with pytest.raises(StoreError, match="file is not a database"):
        migrate_in_child(sqlite_url(db))


def test_the_facts_columns_are_columns_of_the_tables() -> None:
    """`StoreFacts` names its columns in plain SQL (no ORM for `tossd health`): none may drift."""
    from tossd.store import ledger_stats

    for name, columns in ledger_stats.COLUMNS.items():
        table = metadata.tables[name]
        assert set(columns) <= {c.name for c in table.columns}, name


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # Three slashes: a path relative to the working directory; four: absolute.
        ("sqlite:///state/tossd.db", Path("state/tossd.db")),
        ("sqlite:////var/lib/tossd/tossd.db", Path("/var/lib/tossd/tossd.db")),
        # A driver name and query options change nothing about the file.
        ("sqlite+pysqlite:////tmp/a%20b.db?timeout=5", Path("/tmp/a b.db")),
        # No file: in memory, a file: URI, another database.
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:x?mode=memory&uri=true", None),
        ("postgresql+psycopg://u:p@localhost/tossd", None),
    ],
)
def test_sqlite_file_reads_urls_as_sqlalchemy_does(url: str, expected: Path | None) -> None:
    from sqlalchemy.engine import make_url

    from tossd.store.sqlite_reader import sqlite_file

    assert sqlite_file(url) == expected
    if expected is not None:  # the same file SQLAlchemy's own parser names
        assert Path(make_url(url).database or "") == expected
