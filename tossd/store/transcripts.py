"""Voicemail transcripts in the store: what is still to transcribe, the text, and failures."""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager

from sqlmodel import Session, col, or_, select

from tossd.domain import EventKind, StoredEvent, Transcript, TranscriptState
from tossd.store import rows
from tossd.store.tables import AudioRow, EventRow, TranscriptRow

MAX_ERROR_CHARS = 500
#: The stored text is capped too: an engine that loops on noise cannot fill the disk.
MAX_TEXT_CHARS = 20_000


class TranscriptRecords:
    """The Store's transcript methods (a part of `Store`, kept apart to keep each small)."""

    _transaction: Callable[..., AbstractContextManager[Session]]

    def voicemails_to_transcribe(self, *, now: int, limit: int = 10) -> list[StoredEvent]:
        """Announced voicemails whose audio is here, never transcribed or with a retry due;
        oldest first (the ones whose notifications have waited longest)."""
        query = (
            select(EventRow)
            .join(AudioRow, col(AudioRow.event_id) == col(EventRow.id))
            .outerjoin(TranscriptRow, col(TranscriptRow.event_id) == col(EventRow.id))
            .where(
                col(EventRow.kind) == EventKind.VOICEMAIL.value,
                col(EventRow.announce).is_(True),
                or_(
                    col(TranscriptRow.event_id).is_(None),
                    (col(TranscriptRow.state) == TranscriptState.RETRYING.value)
                    & (col(TranscriptRow.next_attempt_at) <= now),
                ),
            )
            .order_by(col(EventRow.occurred_at), col(EventRow.id))
            .limit(limit)
        )
        with self._transaction("list voicemails to transcribe") as session:
            return [rows.stored_event(row) for row in session.exec(query)]

    def record_transcript(
        self, event_id: int, text: str, *, engine: str, took_ms: int, now: int
    ) -> None:
        """The transcript of a voicemail (may be empty: nobody spoke)."""
        with self._transaction("record a transcript", write=True) as session:
            row = self._row(session, event_id, engine, now)
            row.state, row.text, row.took_ms = (
                TranscriptState.DONE.value,
                text[:MAX_TEXT_CHARS],
                took_ms,
            )
            row.last_error, row.next_attempt_at = None, None

    def record_transcript_failure(
        self, event_id: int, error: str, *, engine: str, retry_at: int | None, now: int
    ) -> int:
        """One more failed attempt; `retry_at` None means it was the last. Returns attempts."""
        state = TranscriptState.FAILED if retry_at is None else TranscriptState.RETRYING
        with self._transaction("record a transcript failure", write=True) as session:
            row = self._row(session, event_id, engine, now)
            row.attempts += 1
            row.state, row.last_error = state.value, error[:MAX_ERROR_CHARS]
            row.next_attempt_at = retry_at
            return row.attempts

    def record_transcript_skipped(
        self, event_id: int, reason: str, *, engine: str, now: int
    ) -> None:
        with self._transaction("record a skipped transcript", write=True) as session:
            row = self._row(session, event_id, engine, now)
            row.state, row.last_error = TranscriptState.SKIPPED.value, reason[:MAX_ERROR_CHARS]

    def transcript_for(self, event_id: int) -> Transcript | None:
        found = self.transcripts_for([event_id])
        return found.get(event_id)

    def transcripts_for(self, event_ids: Collection[int]) -> dict[int, Transcript]:
        """Transcripts by event id, for the events that have one."""
        if not event_ids:
            return {}
        query = select(TranscriptRow).where(col(TranscriptRow.event_id).in_(list(event_ids)))
        with self._transaction("read transcripts") as session:
            return {row.event_id: rows.transcript(row) for row in session.exec(query)}

    @staticmethod
    def _row(session: Session, event_id: int, engine: str, now: int) -> TranscriptRow:
        row = session.get(TranscriptRow, event_id)
        if row is None:
            row = TranscriptRow(event_id=event_id, state="", text="", engine=engine, updated_at=now)
            session.add(row)
        row.engine, row.updated_at = engine, now
        return row
