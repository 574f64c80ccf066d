"""Voicemail boxes due for a check: a call that may have reached voicemail marks its box.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("poll_state") as batch:
        batch.add_column(sa.Column("due_call_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("due_until", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("poll_state") as batch:
        batch.drop_column("due_until")
        batch.drop_column("due_call_at")
