"""Leadership and nodes: which node polls (its term fences a stale one), and who is alive;
recordings' bytes in the database, for a store shared by several nodes.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leadership",
        sa.Column("duty", sa.String(), nullable=False),
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("node", sa.String(), nullable=False),
        sa.Column("session", sa.BigInteger(), nullable=True),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.Column("renewed_at", sa.Float(), nullable=False),
        sa.Column("polled_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("duty", name=op.f("pk_leadership")),
    )
    op.create_table(
        "nodes",
        sa.Column("node", sa.String(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.Column("leading", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_nodes")),
    )
    op.create_table(
        "audio_blobs",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_audio_blobs_event_id_events")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_audio_blobs")),
    )


def downgrade() -> None:
    op.drop_table("audio_blobs")
    op.drop_table("nodes")
    op.drop_table("leadership")
