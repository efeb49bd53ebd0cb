"""deployments: how long each step took and what it reused (issue 13, fast rebuilds)

Revision ID: 0014_deployment_build_stats
Revises: 0013_build_slots
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_deployment_build_stats"
down_revision: str | None = "0013_build_slots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: rows from before were never timed, and the page says nothing of them.
    op.add_column("deployments", sa.Column("build_stats", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("deployments", "build_stats")
