"""app names: one per (platform, project, PR), unique per platform (issue 11)

Revision ID: 0006_unique_app_names
Revises: 0005_access_roles_tokens
Create Date: 2026-11-30 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006_unique_app_names"
down_revision: str | None = "0005_access_roles_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_names",
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("pr_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("platform", "name"),
        sa.UniqueConstraint("platform", "project_id", "pr_number"),
    )
    op.create_index(op.f("ix_app_names_project_id"), "app_names", ["project_id"], unique=False)
    # Names already in use keep serving their PRs. The platform they were made on is not recorded,
    # so each is claimed on both; where two projects shared a name (the bug this table ends), the
    # oldest deployment keeps it and the other gets a hashed name on its next first deploy.
    for platform in ("local", "fly"):
        op.execute(
            sa.text(
                """
                INSERT INTO app_names (platform, name, project_id, pr_number, created_at)
                SELECT DISTINCT ON (app_name) :platform, app_name, project_id, pr_number, created_at
                FROM deployments
                WHERE app_name <> ''
                ORDER BY app_name, created_at
                ON CONFLICT DO NOTHING
                """
            ).bindparams(platform=platform)
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_app_names_project_id"), table_name="app_names")
    op.drop_table("app_names")
