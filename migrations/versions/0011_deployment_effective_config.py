"""deployments: the effective config each was built with, and where each value came from (issue 13)

Revision ID: 0011_deployment_effective_config
Revises: 0010_route_last_request
Create Date: 2026-11-30 16:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_deployment_effective_config"
down_revision: str | None = "0010_route_last_request"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: rows from before have no record, and the page says so.
    op.add_column("deployments", sa.Column("effective_config", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("deployments", "effective_config")
