"""lease indexes: only the ones queries use; partial indexes for active leases

The flavor, user and ended_at indexes and the active_key unique constraint give way to
(user, started_at) and two partial indexes that hold active leases only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ACTIVE = sa.text("active_key IS NOT NULL")
OPEN = sa.text("ended_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_index("ix_leases_ended_at")
        batch_op.drop_index("ix_leases_flavor")
        batch_op.drop_index("ix_leases_user")
        batch_op.drop_constraint("uq_leases_active_key", type_="unique")
    op.create_index(
        "uq_leases_active_key",
        "leases",
        ["active_key"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_index(
        "ix_leases_open", "leases", ["started_at"], sqlite_where=OPEN, postgresql_where=OPEN
    )
    op.create_index("ix_leases_user_started_at", "leases", ["user", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_leases_user_started_at", table_name="leases")
    op.drop_index("ix_leases_open", table_name="leases")
    op.drop_index("uq_leases_active_key", table_name="leases")
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_leases_active_key", ["active_key"])
        batch_op.create_index("ix_leases_user", ["user"], unique=False)
        batch_op.create_index("ix_leases_flavor", ["flavor"], unique=False)
        batch_op.create_index("ix_leases_ended_at", ["ended_at"], unique=False)
