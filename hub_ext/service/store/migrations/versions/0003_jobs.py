"""offload jobs"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub_ext.service.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OPEN = sa.text("ended_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("group", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("site", sa.String(length=255), nullable=False),
        sa.Column("site_reason", sa.Text(), nullable=True),
        sa.Column("flavor", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("cell_id", sa.String(length=255), nullable=True),
        sa.Column("setup", sa.String(length=16), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("resources", sa.Text(), nullable=False),
        sa.Column("image", sa.String(length=512), nullable=False),
        sa.Column("input_sha256", sa.String(length=64), nullable=False),
        sa.Column("notebook", sa.Text(), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("pod", sa.String(length=255), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("exit", sa.String(length=64), nullable=True),
        sa.Column("progress_cell", sa.Integer(), nullable=True),
        sa.Column("progress_of", sa.Integer(), nullable=True),
        sa.Column("energy_wh", sa.Float(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("logs", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_user_submitted_at", "jobs", ["user", "submitted_at"])
    op.create_index("ix_jobs_group_submitted_at", "jobs", ["group", "submitted_at"])
    op.create_index(
        "ix_jobs_open", "jobs", ["submitted_at"], sqlite_where=OPEN, postgresql_where=OPEN
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_open", table_name="jobs")
    op.drop_index("ix_jobs_group_submitted_at", table_name="jobs")
    op.drop_index("ix_jobs_user_submitted_at", table_name="jobs")
    op.drop_table("jobs")
