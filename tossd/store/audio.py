"""Voicemail audio in the store: which voicemails still need their file, and the file's row."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from sqlmodel import Session, col, select

from tossd.domain import StoredEvent
from tossd.errors import StoreError
from tossd.store import queries, rows
from tossd.store.ledger import MAX_ERROR_CHARS
from tossd.store.records import AudioFile
from tossd.store.tables import INT_MAX, AudioAttemptRow, AudioRow


class AudioRecords:
    """The Store's audio methods (a part of `Store`, kept apart to keep each module small)."""

    _transaction: Callable[..., AbstractContextManager[Session]]
    _audio_dir: Path

    def voicemails_missing_audio(self, *, max_attempts: int, limit: int = 100) -> list[StoredEvent]:
        """Announced voicemails without audio and with fewer than `max_attempts` failures."""
        query = queries.voicemails_missing_audio(max_attempts, limit)
        with self._transaction("list voicemails missing audio") as session:
            return [rows.stored_event(row) for row in session.exec(query)]

    def record_audio(
        self, event_id: int, *, clipid: str, filename: str, size: int, sha256: str, now: int
    ) -> None:
        """Note the audio file of a voicemail event (`filename` relative to `audio_dir`)."""
        if not filename or Path(filename).name != filename or filename.startswith("."):
            raise StoreError(f"audio filename must be a plain file name: {filename!r}")
        row = AudioRow(
            event_id=event_id,
            clipid=clipid,
            filename=filename,
            size=size,
            sha256=sha256,
            fetched_at=now,
        )
        with self._transaction("record audio", write=True) as session:
            session.add(row)

    def record_audio_failure(self, event_id: int, error: str, now: int) -> int:
        """Count one more failed audio fetch; return the failures so far."""
        with self._transaction("record an audio failure", write=True) as session:
            row = session.get(AudioAttemptRow, event_id)
            if row is None:
                row = AudioAttemptRow(
                    event_id=event_id, attempts=0, last_error="", last_attempt_at=now
                )
                session.add(row)
            # Saturates: retention records a pruned clip as INT_MAX failures, and one more
            # would overflow PostgreSQL's INTEGER (SQLite's integers are 64-bit).
            row.attempts = min(row.attempts + 1, INT_MAX)
            row.last_error = error[:MAX_ERROR_CHARS]
            row.last_attempt_at = now
            return row.attempts

    def audio_failures(self, event_id: int) -> int:
        """Failed downloads recorded for a voicemail (local write failures never count)."""
        with self._transaction("read audio attempts") as session:
            row = session.get(AudioAttemptRow, event_id)
            return 0 if row is None else row.attempts

    def audio_for(self, event_id: int) -> AudioFile | None:
        query = select(AudioRow).where(col(AudioRow.event_id) == event_id)
        with self._transaction("read audio") as session:
            row = session.exec(query).first()
        if row is None:
            return None
        return AudioFile(
            filename=row.filename,
            size=row.size,
            sha256=row.sha256,
            path=self._audio_dir / row.filename,
        )
