"""worker_heartbeats: each worker's latest heartbeat, for /readyz and the dashboard (issue 12)

Revision ID: 0008_worker_heartbeats
Revises: 0007_redeliveries_and_drift
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008_worker_heartbeats"
down_revision: str | None = "0007_redeliveries_and_drift"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("host_queue", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loop_lag_ms", sa.Integer(), nullable=False),
        sa.Column("tasks_completed", sa.Integer(), nullable=False),
        sa.Column("tasks_pending", sa.Integer(), nullable=False),
        sa.Column("last_progress_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host_queue"),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
