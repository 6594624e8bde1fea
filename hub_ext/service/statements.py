"""The SQL the service writes, as reusable templates that group commit runs as executemany."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, update

from .models import ActivityRow, LeaseRow, QueueRow, ReservationRow

INSERT_LEASE = insert(LeaseRow)
END_LEASE = (
    update(LeaseRow)
    .where(LeaseRow.id == bindparam("b_id"))
    .values(
        ended_at=bindparam("b_ended_at"),
        end_reason=bindparam("b_reason"),
        end_message=bindparam("b_message"),
        active_key=None,
    )
)
BIND_LEASE = (
    update(LeaseRow)
    .where(LeaseRow.id == bindparam("b_id"))
    .values(
        namespace=bindparam("b_namespace"),
        pod=bindparam("b_pod"),
        bound_at=bindparam("b_bound_at"),
        expires_at=bindparam("b_expires_at"),
    )
)
INSERT_QUEUE = insert(QueueRow)
LEAVE_QUEUE = (
    update(QueueRow)
    .where(QueueRow.id == bindparam("b_id"))
    .values(
        left_at=bindparam("b_left_at"),
        outcome=bindparam("b_outcome"),
        lease_id=bindparam("b_lease_id"),
    )
)
INSERT_RESERVATION = insert(ReservationRow)
DELETE_RESERVATION = (
    update(ReservationRow)
    .where(ReservationRow.id == bindparam("b_id"))
    .values(deleted_at=bindparam("b_deleted_at"))
)
INSERT_ACTIVITY = insert(ActivityRow)
