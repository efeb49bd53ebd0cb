"""deployments.running_seconds / running_since: how long each preview ran (issue 15, the cost basis)

Revision ID: 0017_metrics
Revises: 0015_route_asleep
Create Date: 2026-11-30 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_metrics"
down_revision: str | None = "0016_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("running_seconds", sa.Float(), nullable=False, server_default="0"))
    op.add_column("deployments", sa.Column("running_since", sa.DateTime(timezone=True), nullable=True))
    # Previews live as this runs start counting now; what they ran before is not known.
    op.execute("UPDATE deployments SET running_since = now() WHERE status = 'active'")


def downgrade() -> None:
    op.drop_column("deployments", "running_since")
    op.drop_column("deployments", "running_seconds")
