"""The statements and lookups the store's transactions are built from; all use indexes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from tossd.events import EventKind, Stream
from tossd.store.tables import AudioAttemptRow, AudioRow, EventRow, PollStateRow

# Identities per `IN (...)` lookup: well under SQLite's historical limit of 999 variables.
LOOKUP_CHUNK = 500


def events_by_identity(session: Session, identities: Sequence[str]) -> dict[str, EventRow]:
    """Stored events among `identities`, found through the unique index, chunk by chunk."""
    unique = list(dict.fromkeys(identities))
    found: dict[str, EventRow] = {}
    for start in range(0, len(unique), LOOKUP_CHUNK):
        chunk = unique[start : start + LOOKUP_CHUNK]
        query = select(EventRow).where(col(EventRow.identity).in_(chunk))
        found.update((row.identity, row) for row in session.exec(query))
    return found


def poll_state_row(session: Session, extensionid: int, stream: Stream, now: int) -> PollStateRow:
    """The poll state of (extension, stream), created (never polled yet) when missing."""
    row = session.get(PollStateRow, (extensionid, stream.value))
    if row is None:
        row = PollStateRow(extensionid=extensionid, stream=stream.value, last_attempt_at=now)
        session.add(row)
    return row


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
    kind: str | None, since: int | None, limit: int | None
) -> SelectOfScalar[EventRow]:
    """Newest first, so that `limit` keeps the most recent events."""
    query = select(EventRow)
    if kind is not None:
        query = query.where(col(EventRow.kind) == kind)
    if since is not None:
        query = query.where(col(EventRow.occurred_at) >= since)
    return query.order_by(col(EventRow.occurred_at).desc(), col(EventRow.id).desc()).limit(limit)


def count_events(kind: str | None) -> SelectOfScalar[int]:
    query = select(func.count()).select_from(EventRow)
    if kind is not None:
        query = query.where(col(EventRow.kind) == kind)
    return query
