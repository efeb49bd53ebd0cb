"""Custom preview domains on Fly (issue 15): projects.preview_domain, deployments.custom_domain

Revision ID: 0018_custom_domains
Revises: 0015_route_asleep
Create Date: 2026-11-30 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018_custom_domains"
down_revision: str | None = "0017_metrics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("preview_domain", sa.String(length=253), nullable=True))
    op.add_column(
        "deployments", sa.Column("custom_domain", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("deployments", "custom_domain")
    op.drop_column("projects", "preview_domain")
