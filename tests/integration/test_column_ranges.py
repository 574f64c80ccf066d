"""Every integer column holds the largest value tossd may write to it, on SQLite and
PostgreSQL alike (PostgreSQL's INTEGER is 32-bit, SQLite's 64-bit), and the counters that
could pass INTEGER's maximum saturate there instead of failing the write."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tossd.domain import EventKind, NewEvent, Stream
from tossd.store.retention import PRUNED_ATTEMPTS
from tossd.store.store import Store
from tossd.store.tables import INT_MAX, metadata

#: Unix seconds of 9999-12-31: every timestamp column must hold it (INTEGER ends in 2038).
FAR_FUTURE = 253_402_300_799


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store


def extreme(column: sa.Column[Any]) -> Any:
    """The largest value tossd may write to `column`."""
    if isinstance(column.type, sa.BigInteger):
        return FAR_FUTURE
    if isinstance(column.type, sa.Integer):
        return INT_MAX
    if isinstance(column.type, sa.Float):
        return float(FAR_FUTURE)
    if isinstance(column.type, sa.Boolean):
        return True
    if isinstance(column.type, sa.LargeBinary):
        return b"x"
    return "x"


def set_column(store_url: str, table: str, **values: int) -> None:
    """Set `values` on every row of `table`, as a long history would have left them."""
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.update(metadata.tables[table]).values(**values))
    finally:
        engine.dispose()


def test_every_integer_column_holds_its_largest_value(store: Store, store_url: str) -> None:
    engine = sa.create_engine(store_url)
    # Parents first: the foreign keys point at events.id, which is INT_MAX below.
    order = ["extensions", "events", "audio", "audio_attempts", "poll_state", "deliveries"]
    # The term and the lease columns are among them: `leadership`, `nodes`.
    order += [name for name in metadata.tables if name not in order]
    written: dict[str, dict[str, Any]] = {}
    try:
        with engine.begin() as connection:
            for name in order:
                table = metadata.tables[name]
                row = {column.name: extreme(column) for column in table.columns}
                connection.execute(sa.insert(table), [row])
                written[name] = row
        with engine.connect() as connection:
            for name, row in written.items():
                table = metadata.tables[name]
                read = connection.execute(sa.select(table)).mappings().one()
                assert dict(read) == row, name
    finally:
        engine.dispose()


def test_timestamps_are_bigint_in_the_migrated_schema(store_url: str, store: Store) -> None:
    engine = sa.create_engine(store_url)
    try:
        inspector = sa.inspect(engine)
        narrow = [
            f"{table}.{column['name']}"
            for table in metadata.tables
            for column in inspector.get_columns(table)
            if column["name"].endswith(("_at", "_until", "date", "watermark"))
            and not isinstance(column["type"], sa.BigInteger | sa.Float)
        ]
    finally:
        engine.dispose()
    assert narrow == []


def test_a_failed_download_after_retention_pruned_the_clip(
    store: Store, store_url: str, now: int
) -> None:
    """Retention records a pruned clip as PRUNED_ATTEMPTS failures; one more failure (a
    fetch already under way) saturates instead of overflowing INTEGER."""
    voicemail = NewEvent(
        kind=EventKind.VOICEMAIL,
        extensionid=7,
        identity="voicemail:7:1",
        occurred_at=now - 60,
        announce=True,
        payload={"vmid": 1},
    )
    (event,) = store.record_batch(7, Stream.VOICEMAIL, [voicemail], 1, now).new
    assert store.record_audio_failure(event.id, "HTTP 500", now) == 1
    set_column(store_url, "audio_attempts", attempts=PRUNED_ATTEMPTS)
    assert store.record_audio_failure(event.id, "HTTP 404", now) == INT_MAX
    assert store.audio_failures(event.id) == INT_MAX


def test_poll_failures_in_a_row_saturate(store: Store, store_url: str, now: int) -> None:
    store.record_failure(7, Stream.CALLS, "down", now)
    set_column(store_url, "poll_state", consecutive_failures=INT_MAX - 1)
    assert store.record_failure(7, Stream.CALLS, "down", now) == INT_MAX
    assert store.record_failure(7, Stream.CALLS, "down", now) == INT_MAX
