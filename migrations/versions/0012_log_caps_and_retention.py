"""deployment_log_counts (log caps without a COUNT per batch) and deployments.logs_deleted_at (retention)

Revision ID: 0012_log_caps_and_retention
Revises: 0011_deployment_effective_config
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_log_caps_and_retention"
down_revision: str | None = "0011_deployment_effective_config"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployment_log_counts",
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("dropped", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["deployment_id"], ["deployments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("deployment_id", "type"),
    )
    # Set once the retention schedule deleted the deployment's logs (the page says so); nullable.
    op.add_column("deployments", sa.Column("logs_deleted_at", sa.DateTime(timezone=True), nullable=True))
    # The retention scan: finished deployments whose logs are still there, oldest first.
    op.create_index(
        "ix_deployments_logs_kept_completed",
        "deployments",
        ["completed_at"],
        postgresql_where=sa.text("logs_deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_deployments_logs_kept_completed", table_name="deployments")
    op.drop_column("deployments", "logs_deleted_at")
    op.drop_table("deployment_log_counts")
