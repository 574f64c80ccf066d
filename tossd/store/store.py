"""The event store: the one object through which tossd reads and writes its state."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select

from tossd.domain import ACCOUNT, KnownExtension, ListedExtension, NewEvent, StoredEvent, Stream
from tossd.errors import StoreError
from tossd.store import queries, revision, rows, schedule
from tossd.store.audio import AudioRecords
from tossd.store.daemon_lock import DaemonLock
from tossd.store.engine import BUSY_TIMEOUT_MS, create_engine, is_sqlite, sqlite_path
from tossd.store.fencing import Fenced
from tossd.store.files import (
    create_private_file,
    ensure_private_dir,
    make_private,
    remove_orphan_temps,
)
from tossd.store.ledger import Ledger
from tossd.store.ledger_stats import StoreFacts
from tossd.store.records import (
    BatchResult,
    Closable,
    ExtensionSync,
    PollState,
    poll_state_of,
)
from tossd.store.retention import Pruner
from tossd.store.schedule import BoxDue, PollSchedule
from tossd.store.scope import Scopes
from tossd.store.stats import Stats
from tossd.store.tables import ExtensionRow
from tossd.store.transcripts import TranscriptRecords
from tossd.store.watch import StoreFile, integrity_check

MAX_ERROR_CHARS = 500


class Store(AudioRecords, TranscriptRecords, Fenced, Closable):
    """Synchronous and small per call: the async poller calls it directly."""

    def __init__(self, engine: Engine, *, audio_dir: Path) -> None:
        """Use `Store.open`, which also migrates and secures the files."""
        self._engine = engine
        self._scopes = Scopes(engine)
        self._transaction = self._scopes.session
        self._connection = self._scopes.connection
        self._audio_dir = audio_dir
        self._file = StoreFile.of(engine)
        self._daemon_lock: DaemonLock | None = None

    @property
    def audio_dir(self) -> Path:
        """Where voicemail audio lives; audio filenames are relative to it."""
        return self._audio_dir

    def ledger(self) -> Ledger:
        """The delivery ledger, on this store's database."""
        return Ledger(self._engine)

    def stats(self) -> Stats:
        """Figures for the nightly report, and the record of reports sent."""
        return Stats(self._engine)

    def facts(self) -> StoreFacts:
        """Read-only figures for health and metrics."""
        return StoreFacts.on_engine(self._engine)

    def schedule(self) -> PollSchedule:
        """What to poll next: voicemail boxes due, per-number turns, account-wide floors."""
        return PollSchedule(self._scopes)

    def pruner(self) -> Pruner:
        """Retention: deletes old audio and events in bounded batches."""
        return Pruner(self._engine, audio_dir=self._audio_dir)

    @classmethod
    def open_existing(cls, url: str, *, audio_dir: Path) -> Store | None:
        """For read-only commands: the store as it is, never created, migrated or chmod-ed
        (so they cannot race a starting daemon); None while there is no database yet."""
        db_file = sqlite_path(url)
        current = None if db_file and not db_file.is_file() else revision.settled_revision(url)
        if current is None:
            return None
        if current != revision.HEAD_REVISION:
            raise StoreError(
                f"the database is at schema {current}, this tossd reads "
                f"{revision.HEAD_REVISION}: starting the daemon (or `tossd db upgrade`) migrates it"
            )
        return cls(create_engine(url), audio_dir=audio_dir)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        audio_dir: Path,
        migrate_in_child: bool = False,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        sole_daemon: bool = False,
    ) -> Store:
        """Migrate the database to the latest schema and open it, with private files.

        The database file (and its -wal, -shm) is 0600; its directory is created 0700 when
        missing but an existing one keeps its mode. `audio_dir` is made 0700 in any case
        and swept of temp files that interrupted writes left.
        """
        db_file = sqlite_path(url)
        if is_sqlite(url) and db_file is None:
            # Each connection would get its own empty database, without the migrated tables.
            raise StoreError("SQLite needs a database file, not :memory: or a file: URI")
        if db_file is not None:
            # An existing directory may be shared (/tmp, a home): only the files are ours.
            ensure_private_dir(db_file.parent, tighten_existing=False)
            # Created 0600 before SQLite sees it: SQLite gives -wal and -shm the same mode.
            create_private_file(db_file)
        # The daemon's (`sole_daemon`): a second daemon is refused before it migrates.
        lock = DaemonLock.acquire(db_file) if sole_daemon and db_file is not None else None
        try:
            store = cls._migrated(url, db_file, audio_dir, busy_timeout_ms, migrate_in_child)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        store._daemon_lock = lock
        return store

    @classmethod
    def _migrated(
        cls,
        url: str,
        db_file: Path | None,
        audio_dir: Path,
        busy_timeout_ms: int,
        migrate_in_child: bool,
    ) -> Store:
        if not revision.is_current(url):
            if migrate_in_child:  # the daemon: see `revision.migrate_in_child`
                revision.migrate_in_child(url)
            else:
                from tossd.store.migrate import upgrade  # Alembic only when there is work

                upgrade(url)
        if db_file is not None:
            make_private(db_file)
        ensure_private_dir(audio_dir)
        remove_orphan_temps(audio_dir)
        return cls(create_engine(url, busy_timeout_ms=busy_timeout_ms), audio_dir=audio_dir)

    def close(self) -> None:
        self._engine.dispose()
        if self._daemon_lock is not None:
            self._daemon_lock.release()

    # Extensions

    def sync_extensions(self, extensions: Sequence[ListedExtension], now: int) -> ExtensionSync:
        """Upsert the account's extensions; those no longer listed stay, inactive."""
        with self._transaction("sync extensions", write=True) as session:
            fresh = [rows.new_extension(extension, now) for extension in extensions]
            queries.insert_missing_extensions(session.connection(), fresh)
            # Locked (PostgreSQL): another node's sync waits, then sees these rows' changes.
            locked = select(ExtensionRow).with_for_update()
            known = {row.extensionid: row for row in session.exec(locked)}
            was_active = {extensionid: row.active for extensionid, row in known.items()}
            for extension in extensions:
                rows.update_extension(known[extension.extensionid], extension, now)
            listed = {extension.extensionid for extension in extensions}
            for extensionid, row in known.items():
                if extensionid not in listed:
                    row.active = False
        return ExtensionSync(
            added=sorted(i for i, r in known.items() if r.active and not was_active.get(i)),
            ended=sorted(i for i, r in known.items() if not r.active and was_active.get(i)),
        )

    def active_extensions(self) -> list[KnownExtension]:
        return self._extensions(active_only=True)

    def all_extensions(self) -> list[KnownExtension]:
        """Every number ever seen, ended ones included (they keep their history)."""
        return self._extensions(active_only=False)

    def _extensions(self, *, active_only: bool) -> list[KnownExtension]:
        query = select(ExtensionRow).order_by(col(ExtensionRow.extensionid))
        if active_only:
            query = query.where(col(ExtensionRow.active).is_(True))
        with self._transaction("list extensions") as session:
            return [rows.known_extension(row) for row in session.exec(query)]

    def get_extension(self, extensionid: int) -> KnownExtension | None:
        with self._transaction("read an extension") as session:
            row = session.get(ExtensionRow, extensionid)
            return None if row is None else rows.known_extension(row)

    # Polling

    def poll_state(self, extensionid: int, stream: Stream) -> PollState | None:
        self.check_leading()  # a state to poll with: leaders only
        with self._connection("read the poll state") as connection:
            row = queries.read_poll_state(connection, extensionid, stream)
            return None if row is None else poll_state_of(row)

    def record_batch(
        self,
        extensionid: int,
        stream: Stream,
        events: Sequence[NewEvent],
        watermark: int | None,
        now: int,
        *,
        due: Sequence[BoxDue] = (),
    ) -> BatchResult:
        """Store what one poll saw and move its watermark, all in one transaction.

        Unknown identities are inserted; known ones whose payload changed are updated in
        place (the provider's mutable fields). Two events with one identity in a batch are
        an error. Only indexed lookups by identity: the cost follows the batch, not history.
        `due` marks voicemail boxes these calls may have reached, in the same transaction,
        so a crash never keeps the calls and loses the check; a box's own poll settles it.
        """
        payloads = [rows.encode_payload(event) for event in events]
        with self._connection("record a batch", write=True) as connection:
            self._fence(connection, now)
            stored = queries.stored_by_identity(connection, [event.identity for event in events])
            fresh, changed, updated = rows.sort_batch(events, payloads, stored)
            values = [rows.event_values(events[i], payloads[i], now) for i in fresh]
            ids = queries.insert_events(connection, values)
            queries.update_payloads(connection, changed)
            queries.mark_success(connection, extensionid, stream, watermark, now)
            inserted = {events[i].identity for i in fresh}
            schedule.mark_due(connection, [d for d in due if d.identity in inserted], now)
            if stream is Stream.VOICEMAIL and extensionid != ACCOUNT:
                schedule.clear_due(connection, extensionid, now)
        new = [
            rows.inserted_event(events[i], ids[events[i].identity], payloads[i], now) for i in fresh
        ]
        return BatchResult(new=new, updated=updated, seen=len(events) - len(fresh))

    def record_failure(self, extensionid: int, stream: Stream, error: str, now: int) -> int:
        """Count one more failed poll (the watermark stays); return the failures in a row."""
        with self._connection("record a poll failure", write=True) as connection:
            self._fence(connection, now)
            return queries.mark_failure(
                connection, extensionid, stream, error[:MAX_ERROR_CHARS], now
            )

    # Reading

    def list_events(
        self,
        *,
        kind: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        extensionids: Collection[int] | None = None,
    ) -> list[StoredEvent]:
        """Events oldest first (by occurred_at, then id); `limit` keeps the newest ones.

        `kind` is matched exactly; `since` keeps events that occurred at or after it;
        `extensionids`, when given, keeps those numbers' events.
        """
        query = queries.newest_events(kind, since, limit, extensionids)
        with self._transaction("list events") as session:
            found = [rows.stored_event(row) for row in session.exec(query)]
        found.reverse()
        return found

    def count_events(self, kind: str | None = None) -> int:
        with self._transaction("count events") as session:
            return session.exec(queries.count_events(kind)).one()

    def integrity_check(self) -> str:
        """SQLite's own check of the database file: "ok" when sound."""
        return integrity_check(self._engine)

    def file(self) -> StoreFile | None:
        """The database file as opened, to notice it deleted or read-only (SQLite only)."""
        return self._file
