"""quota change subject: a recorded change is of a group's quotas or of its flavor access"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quota_changes") as batch:
        batch.add_column(
            sa.Column("subject", sa.String(length=16), nullable=False, server_default="quotas")
        )


def downgrade() -> None:
    with op.batch_alter_table("quota_changes") as batch:
        batch.drop_column("subject")
