"""Deleting what the store no longer needs, one bounded batch per write transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from tossd.domain import EventKind
from tossd.errors import StoreError
from tossd.store.engine import store_errors, writer
from tossd.store.ledger import DEAD, OPEN_STATES, SENT
from tossd.store.tables import INT_MAX, metadata

EVENTS = metadata.tables["events"]
AUDIO = metadata.tables["audio"]
AUDIO_ATTEMPTS = metadata.tables["audio_attempts"]
TRANSCRIPTS = metadata.tables["transcripts"]
AUDIO_BLOBS = metadata.tables["audio_blobs"]
DELIVERIES = metadata.tables["deliveries"]

#: Recorded as the failed-fetch count of a voicemail whose audio was pruned: the audio
#: fetcher retries voicemails without audio below its attempt limit, and must not download
#: what retention just deleted.
PRUNED_ATTEMPTS = INT_MAX
PRUNED_NOTE = "audio deleted by retention"

_NO_OPEN_DELIVERY = ~sa.exists().where(
    DELIVERIES.c.event_id == EVENTS.c.id, DELIVERIES.c.state.in_(OPEN_STATES)
)
# Announced but not yet turned into ledger rows: its notifications are still to come.
_PLANNED_OR_SILENT = sa.or_(EVENTS.c.announce.is_(False), EVENTS.c.planned_at.is_not(None))


class Pruner:
    """Each call deletes at most `limit` rows and says how many; the caller loops."""

    def __init__(self, engine: Engine, *, audio_dir: Path) -> None:
        self._writer = writer(engine)
        self._audio_dir = audio_dir

    @contextmanager
    def _writing(self, action: str) -> Iterator[Connection]:
        with store_errors(action), self._writer.begin() as connection:
            yield connection

    def audio_batch(self, before: int, limit: int, now: int) -> tuple[int, int]:
        """Delete the audio of voicemails that occurred before `before`: (rows, files).

        Files go first, inside the transaction: if the commit then fails, the rows stay and
        the next run finds them again (a missing file is fine); the other order could leave
        files that no row points at, never to be deleted.
        """
        query = (
            sa.select(AUDIO.c.id, AUDIO.c.event_id, AUDIO.c.filename)
            .join(EVENTS, EVENTS.c.id == AUDIO.c.event_id)
            .where(EVENTS.c.occurred_at < before)
            .order_by(AUDIO.c.id)
            .limit(limit)
        )
        with self._writing("prune voicemail audio") as connection:
            found = connection.execute(query).all()
            if not found:
                return 0, 0
            files = sum(self._unlink(row.filename) for row in found)
            event_ids = [row.event_id for row in found]
            connection.execute(sa.delete(AUDIO_BLOBS).where(AUDIO_BLOBS.c.event_id.in_(event_ids)))
            connection.execute(sa.delete(AUDIO).where(AUDIO.c.id.in_([row.id for row in found])))
            _mark_pruned(connection, event_ids, now)
        return len(found), files

    def events_batch(self, before: int, limit: int) -> tuple[int, int]:
        """Delete events that occurred before `before`, with their ledger rows: (events, rows).

        Kept whatever their age: events with a pending or retrying delivery, announced events
        not yet planned, and voicemail. The voicemail list is fetched whole, not by window,
        so a deleted voicemail still in the provider's mailbox would come back as new and
        be announced again.
        """
        query = (
            sa.select(EVENTS.c.id)
            .where(
                EVENTS.c.occurred_at < before,
                EVENTS.c.kind != EventKind.VOICEMAIL.value,
                _PLANNED_OR_SILENT,
                _NO_OPEN_DELIVERY,
            )
            .order_by(EVENTS.c.id)
            .limit(limit)
        )
        with self._writing("prune events") as connection:
            ids = list(connection.execute(query).scalars())
            if not ids:
                return 0, 0
            rows = connection.execute(sa.delete(DELIVERIES).where(DELIVERIES.c.event_id.in_(ids)))
            # Only voicemail has these; a defensive sweep keeps the foreign keys satisfied.
            connection.execute(sa.delete(AUDIO_ATTEMPTS).where(AUDIO_ATTEMPTS.c.event_id.in_(ids)))
            connection.execute(sa.delete(TRANSCRIPTS).where(TRANSCRIPTS.c.event_id.in_(ids)))
            connection.execute(sa.delete(AUDIO_BLOBS).where(AUDIO_BLOBS.c.event_id.in_(ids)))
            connection.execute(sa.delete(EVENTS).where(EVENTS.c.id.in_(ids)))
        return len(ids), rows.rowcount

    def deliveries_batch(self, before: int, limit: int) -> int:
        """Delete finished (sent or dead) ledger rows of no event (reports) created before."""
        query = (
            sa.select(DELIVERIES.c.id)
            .where(
                DELIVERIES.c.event_id.is_(None),
                DELIVERIES.c.state.in_((SENT, DEAD)),
                DELIVERIES.c.created_at < before,
            )
            .order_by(DELIVERIES.c.id)
            .limit(limit)
        )
        with self._writing("prune deliveries") as connection:
            ids = list(connection.execute(query).scalars())
            if ids:
                connection.execute(sa.delete(DELIVERIES).where(DELIVERIES.c.id.in_(ids)))
        return len(ids)

    def _unlink(self, filename: str) -> int:
        # The store only records plain names (see Store.record_audio); anything else is not
        # a path to follow out of the audio directory.
        if not filename or Path(filename).name != filename or filename.startswith("."):
            return 0
        try:
            (self._audio_dir / filename).unlink()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StoreError(f"could not delete {self._audio_dir / filename}: {exc}") from exc
        return 1


def _mark_pruned(connection: Connection, event_ids: Sequence[int], now: int) -> None:
    """Upsert, portably: delete then insert, inside the caller's transaction."""
    connection.execute(sa.delete(AUDIO_ATTEMPTS).where(AUDIO_ATTEMPTS.c.event_id.in_(event_ids)))
    connection.execute(
        sa.insert(AUDIO_ATTEMPTS),
        [
            {
                "event_id": event_id,
                "attempts": PRUNED_ATTEMPTS,
                "last_error": PRUNED_NOTE,
                "last_attempt_at": now,
            }
            for event_id in event_ids
        ],
    )
