"""quota changes: who changed a group's quotas from the admin page, when, from what to what"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub_ext.service.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group", sa.String(length=255), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_changes")),
    )
    op.create_index("ix_quota_changes_changed_at", "quota_changes", ["changed_at"])


def downgrade() -> None:
    op.drop_index("ix_quota_changes_changed_at", table_name="quota_changes")
    op.drop_table("quota_changes")
