"""redelivery requests and scan marks; outbox rows looked up per PR (issue 12, part 4)

Revision ID: 0007_redeliveries_and_drift
Revises: 0006_unique_app_names
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007_redeliveries_and_drift"
down_revision: str | None = "0006_unique_app_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "redelivery_requests",
        sa.Column("github_delivery_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("guid", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("asked", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("github_delivery_id"),
    )
    op.create_index(op.f("ix_redelivery_requests_guid"), "redelivery_requests", ["guid"], unique=False)
    op.create_table(
        "scan_marks",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("examined_through", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # The drift reconcile reads each PR's last push and close; a PR's rows, newest first.
    op.create_index(
        "ix_webhook_deliveries_pull_request", "webhook_deliveries", ["project_id", "pr_number", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_pull_request", table_name="webhook_deliveries")
    op.drop_table("scan_marks")
    op.drop_index(op.f("ix_redelivery_requests_guid"), table_name="redelivery_requests")
    op.drop_table("redelivery_requests")
