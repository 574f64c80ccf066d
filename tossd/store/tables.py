"""The event store's SQLModel tables: the schema that the Alembic migrations must reproduce."""

# Safe with plain columns (SQLModel resolves the string annotations through pydantic); a
# table with Relationship attributes needs real annotations: drop this import for it.
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    or_,
    text,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel, col

# Every constraint and index gets a predictable name, so later migrations (Alembic batch mode
# on SQLite, plain ALTERs on PostgreSQL) can drop or alter them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Our own registry, not SQLModel's global one: the store's metadata holds only its own tables
# and the naming convention is set without touching a library global.
metadata = MetaData(naming_convention=NAMING_CONVENTION)


class StoreTable(SQLModel, registry=registry(metadata=metadata)):
    """Base of every store table (abstract: SQLModel marks registry bases so)."""


# Timestamps are Unix seconds as BigInteger: PostgreSQL's INTEGER ends in 2038.
#: The largest value of a plain INTEGER column on PostgreSQL (counters saturate there).
INT_MAX = 2**31 - 1


class ExtensionRow(StoreTable, table=True):
    __tablename__ = "extensions"

    extensionid: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    did: str = Field(sa_type=String)
    alias: str = Field(sa_type=String)
    forward: str = Field(sa_type=String)
    startdate: int = Field(sa_type=BigInteger)
    enddate: int = Field(sa_type=BigInteger)
    first_seen_at: int = Field(sa_type=BigInteger)
    last_seen_at: int = Field(sa_type=BigInteger)
    active: bool


class EventRow(StoreTable, table=True):
    __tablename__ = "events"
    # Announced events not yet turned into deliveries: a partial index, so finding them costs
    # the few waiting, never the history. Migration 0002 gives PostgreSQL the same predicate;
    # a `postgresql_where` here would import SQLAlchemy's PostgreSQL dialect (2.2 MiB) into
    # every process on SQLite, and Alembic's comparison does not read predicates anyway.
    __table_args__ = (
        Index("ix_events_unplanned", "id", sqlite_where=text("planned_at IS NULL AND announce")),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=String, index=True)
    extensionid: int = Field(index=True)
    identity: str = Field(sa_type=String, unique=True)
    occurred_at: int = Field(sa_type=BigInteger, index=True)
    recorded_at: int = Field(sa_type=BigInteger)
    announce: bool
    # JSON encoded by the store itself (sorted keys), so "has it changed" is a string compare.
    payload: str = Field(sa_type=Text)
    # When the delivery ledger rows of this event were created (None: not yet).
    planned_at: int | None = Field(default=None, sa_type=BigInteger)


class AudioRow(StoreTable, table=True):
    __tablename__ = "audio"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="events.id", unique=True)
    clipid: str = Field(sa_type=String)
    filename: str = Field(sa_type=String)  # relative to the audio directory
    size: int = Field(sa_type=BigInteger)
    sha256: str = Field(sa_type=String)
    fetched_at: int = Field(sa_type=BigInteger)


class AudioAttemptRow(StoreTable, table=True):
    """Failed audio fetches of one voicemail event, so retries can give up after a while."""

    __tablename__ = "audio_attempts"

    event_id: int = Field(
        foreign_key="events.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    attempts: int
    last_error: str = Field(sa_type=Text)
    last_attempt_at: int = Field(sa_type=BigInteger)


class TranscriptRow(StoreTable, table=True):
    """A voicemail's transcript, or why there is none yet (`state`) and when to try again."""

    __tablename__ = "transcripts"

    event_id: int = Field(
        foreign_key="events.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    state: str = Field(sa_type=String)  # done | retrying | failed | skipped
    text: str = Field(sa_type=Text)
    engine: str = Field(sa_type=String)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    next_attempt_at: int | None = Field(default=None, sa_type=BigInteger)
    took_ms: int | None = None
    updated_at: int = Field(sa_type=BigInteger)


class PollStateRow(StoreTable, table=True):
    __tablename__ = "poll_state"

    extensionid: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    stream: str = Field(sa_type=String, primary_key=True)
    watermark: int | None = Field(default=None, sa_type=BigInteger)
    last_success_at: int | None = Field(default=None, sa_type=BigInteger)
    last_attempt_at: int = Field(sa_type=BigInteger)
    last_error: str | None = Field(default=None, sa_type=Text)
    consecutive_failures: int = 0
    # The first *successful* poll: None means the stream has never been read (first sight).
    first_polled_at: int | None = Field(default=None, sa_type=BigInteger)
    # Voicemail rows only: the newest call that may have left a voicemail not yet seen, and
    # until when the box is checked for it (None: nothing awaited, the sweep alone visits).
    due_call_at: int | None = Field(default=None, sa_type=BigInteger)
    due_until: int | None = Field(default=None, sa_type=BigInteger)


class DeliveryRow(StoreTable, table=True):
    """The delivery ledger: one row per (event, route, target), pending until sent."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "route", "target"),
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int | None = Field(default=None, foreign_key="events.id", index=True)
    kind: str = Field(sa_type=String)  # "event", or later "report" / "alert" (payload then)
    route: str = Field(sa_type=String)
    # The target's identity (`Target.key`): its name or place in the route, never its URL
    # (which holds secrets, and is corrected without losing what is owed to it).
    target: str = Field(sa_type=String)
    target_label: str = Field(sa_type=String)  # the URL with its secrets masked
    state: str = Field(sa_type=String)  # pending | retrying | sent | dead | orphaned
    attempts: int = 0
    created_at: int = Field(sa_type=BigInteger)
    next_attempt_at: int = Field(sa_type=BigInteger)
    held_until: int | None = Field(default=None, sa_type=BigInteger)  # quiet hours: a digest
    sent_at: int | None = Field(default=None, sa_type=BigInteger)
    last_error: str | None = Field(default=None, sa_type=Text)
    payload: str | None = Field(default=None, sa_type=Text)
    # A sender's claim: only the claimant sends the row and records its result; a claim
    # past `claim_until` (its sender was killed) may be taken by another.
    claimed_by: str | None = Field(default=None, sa_type=String)
    claim_until: int | None = Field(default=None, sa_type=BigInteger)


class ReportRow(StoreTable, table=True):
    """One report per name and period: the unique triple keeps a period from going out twice."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("name", "period", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    # The period's first local date, "YYYY-MM-DD": sorts as the dates do.
    day: str = Field(sa_type=String)
    # The report's name (`[report]` is "report") and its period: day, week or month.
    name: str = Field(
        sa_type=String, default="report", sa_column_kwargs={"server_default": "report"}
    )
    period: str = Field(sa_type=String, default="day", sa_column_kwargs={"server_default": "day"})
    sent_at: int = Field(sa_type=BigInteger)
    late: bool
    # JSON of the figures sent, so a report can be explained after the fact.
    summary: str = Field(sa_type=Text)


def unclaimed(now: int) -> ColumnElement[bool]:
    """Rows no sender holds: never claimed, or the claim expired (its sender is gone)."""
    until = col(DeliveryRow.claim_until)
    return or_(until.is_(None), until <= now)


class LeadershipRow(StoreTable, table=True):
    """One row per duty ("poll"): who holds it, in which term, renewed when (the database's
    clock, seconds). A leader's writes carry its term; a higher one here refuses them."""

    __tablename__ = "leadership"

    duty: str = Field(sa_type=String, primary_key=True)
    term: int = Field(sa_type=BigInteger)
    node: str = Field(sa_type=String)
    # The holder's database session (PostgreSQL's backend pid): a standby ends it once the
    # lease ran out (a leader frozen by SIGSTOP keeps its session, and so its lock).
    session: int | None = Field(default=None, sa_type=BigInteger)
    since: int = Field(sa_type=BigInteger)
    renewed_at: float = Field(sa_type=Float)
    # When the leader last finished a poll: "no leader polled for 3 intervals" reads it.
    polled_at: int | None = Field(default=None, sa_type=BigInteger)


class NodeRow(StoreTable, table=True):
    """Every daemon sharing the store, and its last heartbeat (`tossd health` lists them)."""

    __tablename__ = "nodes"

    node: str = Field(sa_type=String, primary_key=True)
    started_at: int = Field(sa_type=BigInteger)
    heartbeat_at: int = Field(sa_type=BigInteger)
    leading: bool


class AudioBlobRow(StoreTable, table=True):
    """A recording's bytes, kept in the database when the store is shared (PostgreSQL): the
    node that delivers a voicemail is often not the one that downloaded it. SQLite stores
    keep only the file in `state_dir/audio`."""

    __tablename__ = "audio_blobs"

    event_id: int = Field(
        foreign_key="events.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    data: bytes = Field(sa_type=LargeBinary)
