"""sandbox reports: whether each worker host runs PR code in a sandbox (issue 10)

Revision ID: 0004_sandbox_reports
Revises: 0003_dashboard
Create Date: 2026-11-30 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004_sandbox_reports"
down_revision: str | None = "0003_dashboard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sandbox_reports",
        sa.Column("host_queue", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("sandboxed", sa.Boolean(), nullable=False),
        sa.Column("reasons", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host_queue"),
    )


def downgrade() -> None:
    op.drop_table("sandbox_reports")
