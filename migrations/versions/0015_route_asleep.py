"""preview_routes.asleep: a preview stopped for want of requests, woken by the next one (issue 14)

Revision ID: 0015_route_asleep
Revises: 0014_deployment_build_stats
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_route_asleep"
down_revision: str | None = "0014_deployment_build_stats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "preview_routes",
        sa.Column("asleep", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("preview_routes", "asleep")
