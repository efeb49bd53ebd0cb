"""access: roles cached per user and repository, scoped expiring revocable API tokens (issue 11)

Revision ID: 0005_access_roles_tokens
Revises: 0004_sandbox_reports
Create Date: 2026-11-30 14:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005_access_roles_tokens"
down_revision: str | None = "0004_sandbox_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repo_roles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("github_repo_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.SmallInteger(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "github_repo_id"),
    )
    # Tokens made before scopes were all-powerful: they keep the admin scope, and now expire in 90 days.
    op.add_column(
        "api_tokens",
        sa.Column(
            "scope", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default="admin"
        ),
    )
    op.add_column(
        "api_tokens",
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now() + interval '90 days'"),
        ),
    )
    op.add_column("api_tokens", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("api_tokens", "scope", server_default=None)
    op.alter_column("api_tokens", "expires_at", server_default=None)


def downgrade() -> None:
    op.drop_column("api_tokens", "revoked_at")
    op.drop_column("api_tokens", "expires_at")
    op.drop_column("api_tokens", "scope")
    op.drop_table("repo_roles")
