"""preview_routes.last_request_at: when the proxy last served the preview (idle sleep, expiry; issue 14)

Revision ID: 0010_route_last_request
Revises: 0009_deployment_pr_branch
Create Date: 2026-11-30 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_route_last_request"
down_revision: str | None = "0009_deployment_pr_branch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("preview_routes", sa.Column("last_request_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("preview_routes", "last_request_at")
