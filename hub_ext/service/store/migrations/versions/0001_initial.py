"""initial schema"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub_ext.service.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("busy", sa.Integer(), nullable=False),
        sa.Column("utilization_avg", sa.Float(), nullable=True),
        sa.Column("memory_used_bytes", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
    )
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activity_user_server_ts", ["user", "server", "timestamp"], unique=False
        )

    op.create_table(
        "leases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("flavor", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("group", sa.String(length=255), nullable=True),
        sa.Column("reservation_id", sa.String(length=32), nullable=True),
        sa.Column("active_key", sa.String(length=520), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(length=64), nullable=True),
        sa.Column("end_message", sa.Text(), nullable=True),
        sa.Column("namespace", sa.String(length=255), nullable=True),
        sa.Column("pod", sa.String(length=255), nullable=True),
        sa.Column("bound_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leases")),
        sa.UniqueConstraint("active_key", name=op.f("uq_leases_active_key")),
    )
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leases_ended_at"), ["ended_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_leases_flavor"), ["flavor"], unique=False)
        batch_op.create_index(batch_op.f("ix_leases_started_at"), ["started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_leases_user"), ["user"], unique=False)

    op.create_table(
        "queue",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("flavor", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", UTCDateTime(), nullable=False),
        sa.Column("left_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("lease_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue")),
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("group", sa.String(length=255), nullable=False),
        sa.Column("flavor", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("per_member", sa.Boolean(), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reservations_end"), ["end"], unique=False)
        batch_op.create_index(batch_op.f("ix_reservations_group"), ["group"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservations_group"))
        batch_op.drop_index(batch_op.f("ix_reservations_end"))

    op.drop_table("reservations")
    op.drop_table("queue")
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leases_user"))
        batch_op.drop_index(batch_op.f("ix_leases_started_at"))
        batch_op.drop_index(batch_op.f("ix_leases_flavor"))
        batch_op.drop_index(batch_op.f("ix_leases_ended_at"))

    op.drop_table("leases")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_user_server_ts")

    op.drop_table("activity")
