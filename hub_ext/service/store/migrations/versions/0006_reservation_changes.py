"""reservation changes: who created, changed or cancelled a reservation, when, from what to what"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub_ext.service.store.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reservation_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reservation_id", sa.String(length=32), nullable=False),
        sa.Column("group", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservation_changes")),
    )
    op.create_index(
        "ix_reservation_changes_group_changed_at",
        "reservation_changes",
        ["group", "changed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_reservation_changes_group_changed_at", table_name="reservation_changes")
    op.drop_table("reservation_changes")
