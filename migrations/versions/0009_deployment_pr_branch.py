"""deployments.pr_branch: the PR's head branch, told to its commands as PREVIEWD_BRANCH (issue 13)

Revision ID: 0009_deployment_pr_branch
Revises: 0008_worker_heartbeats
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_deployment_pr_branch"
down_revision: str | None = "0008_worker_heartbeats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("pr_branch", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("deployments", "pr_branch")
