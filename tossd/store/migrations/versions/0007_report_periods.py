"""Reports by name and period: several reports (daily, weekly, monthly) each once per period.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before are the single `[report]`'s daily reports.
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("name", sa.String(), nullable=False, server_default="report"))
        batch.add_column(sa.Column("period", sa.String(), nullable=False, server_default="day"))
        batch.drop_constraint("uq_reports_day", type_="unique")
        batch.create_unique_constraint("uq_reports_name_period_day", ["name", "period", "day"])


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_constraint("uq_reports_name_period_day", type_="unique")
        batch.create_unique_constraint("uq_reports_day", ["day"])
        batch.drop_column("period")
        batch.drop_column("name")
