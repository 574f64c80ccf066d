"""The initial schema: extensions, events, audio, audio_attempts, poll_state.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "extensions",
        sa.Column("extensionid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("did", sa.String(), nullable=False),
        sa.Column("alias", sa.String(), nullable=False),
        sa.Column("forward", sa.String(), nullable=False),
        sa.Column("startdate", sa.BigInteger(), nullable=False),
        sa.Column("enddate", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("extensionid", name=op.f("pk_extensions")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("extensionid", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("announce", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("identity", name=op.f("uq_events_identity")),
    )
    op.create_index(op.f("ix_events_kind"), "events", ["kind"])
    op.create_index(op.f("ix_events_extensionid"), "events", ["extensionid"])
    op.create_index(op.f("ix_events_occurred_at"), "events", ["occurred_at"])
    op.create_table(
        "audio",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("clipid", sa.String(), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("fetched_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_audio_event_id_events")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audio")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audio_event_id")),
    )
    op.create_table(
        "audio_attempts",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_attempt_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_audio_attempts_event_id_events")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_audio_attempts")),
    )
    op.create_table(
        "poll_state",
        sa.Column("extensionid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=True),
        sa.Column("last_success_at", sa.BigInteger(), nullable=True),
        sa.Column("last_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("first_polled_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("extensionid", "stream", name=op.f("pk_poll_state")),
    )


def downgrade() -> None:
    op.drop_table("poll_state")
    op.drop_table("audio_attempts")
    op.drop_table("audio")
    op.drop_index(op.f("ix_events_occurred_at"), table_name="events")
    op.drop_index(op.f("ix_events_extensionid"), table_name="events")
    op.drop_index(op.f("ix_events_kind"), table_name="events")
    op.drop_table("events")
    op.drop_table("extensions")
