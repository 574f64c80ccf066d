"""The statements and lookups the store's transactions are built from; all use indexes."""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Table, func
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from tossd.domain import EventKind, Stream
from tossd.store.tables import INT_MAX, AudioAttemptRow, AudioRow, EventRow, ExtensionRow, metadata

# Identities per `IN (...)` lookup: well under SQLite's historical limit of 999 variables.
LOOKUP_CHUNK = 500

# The per-poll path runs on Core statements built once: no ORM unit of work, no identity
# map, no per-call statement construction (SQLAlchemy caches their compiled form).
EVENTS: Table = metadata.tables["events"]
POLL_STATE: Table = metadata.tables["poll_state"]

_STORED = sa.select(EVENTS.c.identity, EVENTS.c.id, EVENTS.c.payload).where(
    EVENTS.c.identity.in_(sa.bindparam("identities", expanding=True))
)
# Ids come back matched by identity (unique), not by position: asking SQLite for
# sort_by_parameter_order makes SQLAlchemy fall back to one INSERT per row.
_INSERT_EVENTS = sa.insert(EVENTS).returning(EVENTS.c.identity, EVENTS.c.id)
_UPDATE_PAYLOAD = (
    sa.update(EVENTS)
    .where(EVENTS.c.id == sa.bindparam("event_id"))
    .values(payload=sa.bindparam("new_payload"))
)

_STATE_KEY = sa.and_(
    POLL_STATE.c.extensionid == sa.bindparam("key_extensionid"),
    POLL_STATE.c.stream == sa.bindparam("key_stream"),
)
_READ_STATE = sa.select(POLL_STATE).where(_STATE_KEY)
_FAILURES = sa.select(POLL_STATE.c.consecutive_failures).where(_STATE_KEY)
# The poll state is upserted as UPDATE, then INSERT when no row matched: one statement in
# the steady state, the same SQL on every database (no dialect upsert, no SQLite 3.24), and
# no race on SQLite, whose write transactions hold the lock from BEGIN IMMEDIATE.
_NOW = sa.bindparam("now", type_=sa.BigInteger)
_SUCCESS = (
    sa.update(POLL_STATE)
    .where(_STATE_KEY)
    .values(
        watermark=sa.bindparam("watermark", type_=sa.BigInteger),
        last_success_at=_NOW,
        last_attempt_at=_NOW,
        last_error=None,
        consecutive_failures=0,
        first_polled_at=func.coalesce(POLL_STATE.c.first_polled_at, _NOW),
    )
)
_FAILURE = (
    sa.update(POLL_STATE)
    .where(_STATE_KEY)
    .values(
        last_attempt_at=_NOW,
        last_error=sa.bindparam("error", type_=sa.Text),
        # Saturates at INTEGER's maximum rather than overflow it on PostgreSQL.
        consecutive_failures=sa.case(
            (POLL_STATE.c.consecutive_failures < INT_MAX, POLL_STATE.c.consecutive_failures + 1),
            else_=POLL_STATE.c.consecutive_failures,
        ),
    )
)


def stored_by_identity(
    connection: Connection, identities: Sequence[str]
) -> dict[str, tuple[int, str]]:
    """(id, payload) of the stored events among `identities`, through the unique index."""
    unique = list(dict.fromkeys(identities))
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(unique), LOOKUP_CHUNK):
        chunk = unique[start : start + LOOKUP_CHUNK]
        for identity, event_id, payload in connection.execute(_STORED, {"identities": chunk}):
            found[identity] = (event_id, payload)
    return found


def insert_events(connection: Connection, values: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Insert events rows in as few statements as the driver allows; their ids by identity."""
    if not values:
        return {}
    if connection.dialect.insert_executemany_returning:
        return {
            identity: event_id for identity, event_id in connection.execute(_INSERT_EVENTS, values)
        }
    # No multi-row RETURNING (SQLite before 3.35): read the ids back through the index.
    connection.execute(sa.insert(EVENTS), values)
    stored = stored_by_identity(connection, [row["identity"] for row in values])
    return {identity: event_id for identity, (event_id, _) in stored.items()}


def update_payloads(connection: Connection, changed: Mapping[int, str]) -> None:
    if changed:
        params = [{"event_id": i, "new_payload": p} for i, p in changed.items()]
        connection.execute(_UPDATE_PAYLOAD, params)


def read_poll_state(connection: Connection, extensionid: int, stream: Stream) -> sa.Row[Any] | None:
    key = {"key_extensionid": extensionid, "key_stream": stream.value}
    return connection.execute(_READ_STATE, key).first()


def mark_success(
    connection: Connection, extensionid: int, stream: Stream, watermark: int | None, now: int
) -> None:
    """Upsert the poll state after a successful poll; `first_polled_at` is set only once."""
    key = {"key_extensionid": extensionid, "key_stream": stream.value}
    if connection.execute(_SUCCESS, {**key, "watermark": watermark, "now": now}).rowcount:
        return
    insert_state(
        connection,
        extensionid,
        stream,
        now,
        watermark=watermark,
        last_success_at=now,
        first_polled_at=now,
    )


def mark_failure(
    connection: Connection, extensionid: int, stream: Stream, error: str, now: int
) -> int:
    """Upsert the poll state after a failed poll; the failures in a row, this one included."""
    key = {"key_extensionid": extensionid, "key_stream": stream.value}
    if connection.execute(_FAILURE, {**key, "error": error, "now": now}).rowcount:
        return int(connection.execute(_FAILURES, key).scalar_one())
    insert_state(connection, extensionid, stream, now, last_error=error, consecutive_failures=1)
    return 1


def insert_state(
    connection: Connection, extensionid: int, stream: Stream, now: int, **values: Any
) -> None:
    row = {
        "extensionid": extensionid,
        "stream": stream.value,
        "watermark": None,
        "last_success_at": None,
        "last_attempt_at": now,
        "last_error": None,
        "consecutive_failures": 0,
        "first_polled_at": None,
    }
    connection.execute(sa.insert(POLL_STATE), {**row, **values})


def voicemails_missing_audio(max_attempts: int, limit: int) -> SelectOfScalar[EventRow]:
    """Walks the voicemail events (ix_events_kind), each checked through audio's indexes."""
    return (
        select(EventRow)
        .outerjoin(AudioRow, col(AudioRow.event_id) == col(EventRow.id))
        .outerjoin(AudioAttemptRow, col(AudioAttemptRow.event_id) == col(EventRow.id))
        .where(
            col(EventRow.kind) == EventKind.VOICEMAIL.value,
            col(EventRow.announce).is_(True),
            col(AudioRow.id).is_(None),
            func.coalesce(col(AudioAttemptRow.attempts), 0) < max_attempts,
        )
        .order_by(col(EventRow.occurred_at), col(EventRow.id))
        .limit(limit)
    )


def newest_events(
    kind: str | None,
    since: int | None,
    limit: int | None,
    extensionids: Collection[int] | None = None,
) -> SelectOfScalar[EventRow]:
    """Newest first, so that `limit` keeps the most recent events."""
    query = select(EventRow)
    if kind is not None:
        query = query.where(col(EventRow.kind) == kind)
    if extensionids is not None:
        query = query.where(col(EventRow.extensionid).in_(list(extensionids)))
    if since is not None:
        query = query.where(col(EventRow.occurred_at) >= since)
    return query.order_by(col(EventRow.occurred_at).desc(), col(EventRow.id).desc()).limit(limit)


def count_events(kind: str | None) -> SelectOfScalar[int]:
    query = select(func.count()).select_from(EventRow)
    if kind is not None:
        query = query.where(col(EventRow.kind) == kind)
    return query


def insert_missing_extensions(connection: Connection, new: Sequence[ExtensionRow]) -> None:
    """Insert the numbers not stored yet, skipping those that are (ON CONFLICT DO NOTHING):
    two syncs at once (two nodes starting together) both succeed, neither inserts twice."""
    if not new:
        return
    table = metadata.tables["extensions"]
    # Each dialect's own INSERT (both have ON CONFLICT), imported from the dialect in use:
    # SQLAlchemy's PostgreSQL package is 2.2 MiB a process on SQLite never needs.
    dialect = importlib.import_module(f"sqlalchemy.dialects.{connection.dialect.name}")
    dialect_insert = dialect.insert
    values = [{column.name: getattr(row, column.name) for column in table.columns} for row in new]
    statement = dialect_insert(table).on_conflict_do_nothing(index_elements=["extensionid"])
    connection.execute(statement, values)
