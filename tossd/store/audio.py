"""Voicemail audio in the store: which voicemails still need their file, and the file's row."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tossd.domain import MIB, StoredEvent
from tossd.errors import StoreError
from tossd.store import queries, rows
from tossd.store.files import write_atomic
from tossd.store.ledger import MAX_ERROR_CHARS
from tossd.store.records import AudioFile
from tossd.store.tables import INT_MAX, AudioAttemptRow, AudioBlobRow, AudioRow

#: The largest recording kept in the database (the provider's clips are a few MB).
MAX_BLOB_BYTES = 50 * MIB


class AudioRecords:
    """The Store's audio methods (a part of `Store`, kept apart to keep each module small)."""

    _transaction: Callable[..., AbstractContextManager[Session]]
    _audio_dir: Path
    _engine: Engine

    @property
    def _shared(self) -> bool:
        """A store several nodes share keeps each recording's bytes too (`audio_blobs`)."""
        return self._engine.dialect.name != "sqlite"

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
        blob = self._read_clip(filename, size) if self._shared else None
        with self._transaction("record audio", write=True) as session:
            session.add(row)
            if blob is not None:
                session.add(AudioBlobRow(event_id=event_id, data=blob))

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
        path = self._audio_dir / row.filename
        if self._shared and not path.exists():
            self._fetch_clip(event_id, path)
        return AudioFile(
            filename=row.filename,
            size=row.size,
            sha256=row.sha256,
            path=path,
            fetched_at=row.fetched_at,
        )

    def _read_clip(self, filename: str, size: int) -> bytes:
        """The downloaded file's bytes, for the database; capped (a row is read whole)."""
        if size > MAX_BLOB_BYTES:
            raise StoreError(f"audio {filename}: {size} bytes, over the {MAX_BLOB_BYTES} cap")
        try:
            return (self._audio_dir / filename).read_bytes()
        except OSError as exc:
            raise StoreError(f"could not read {self._audio_dir / filename}: {exc}") from exc

    def _fetch_clip(self, event_id: int, path: Path) -> None:
        """Another node downloaded it: copy its bytes from the database into `audio_dir`
        (a cache: retention deletes the row and this node's copy alike)."""
        with self._transaction("read a recording") as session:
            blob = session.get(AudioBlobRow, event_id)
            data = None if blob is None else blob.data
        if data is not None:
            write_atomic(path, data)
