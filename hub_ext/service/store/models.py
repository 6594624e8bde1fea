"""SQLAlchemy tables of the service: leases, reservations, the waiting line, activity, jobs,
quota changes, reservation changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC; returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Base(DeclarativeBase):
    """Declarative base bound to the service's metadata."""

    metadata = metadata


ACTIVE = text("active_key IS NOT NULL")
OPEN = text("ended_at IS NULL")


class LeaseRow(Base):
    """One grant of devices to one user's server.

    Its indexes are the ones its queries use, and the two about active leases hold only active
    leases (partial indexes), so an ended lease leaves them. On PostgreSQL, where an UPDATE
    that changes an indexed column adds the new row version to every index whose predicate
    it meets, a lease's start and end add eight index entries (twelve with the first schema).
    """

    __tablename__ = "leases"
    __table_args__ = (
        # One active lease per server, enforced by SQL; ended leases leave the index.
        Index(
            "uq_leases_active_key",
            "active_key",
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
        # The active leases the service reloads at start-up.
        Index("ix_leases_open", "started_at", sqlite_where=OPEN, postgresql_where=OPEN),
        # A user's leases, newest first, and a user's usage over a period.
        Index("ix_leases_user_started_at", "user", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[str] = mapped_column(String(255))
    server: Mapped[str] = mapped_column(String(255))
    flavor: Mapped[str] = mapped_column(String(255))
    count: Mapped[int] = mapped_column(Integer)
    group: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reservation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # "user/server" while active, NULL once ended: one active lease per server.
    active_key: Mapped[str | None] = mapped_column(String(520), nullable=True)
    # Everything over a period (accounting, the admin's list of recent leases).
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    end_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    namespace: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pod: Mapped[str | None] = mapped_column(String(255), nullable=True)
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ReservationRow(Base):
    """Devices of one flavor held for the members of a group during a window."""

    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    group: Mapped[str] = mapped_column(String(255), index=True)
    flavor: Mapped[str] = mapped_column(String(255))
    count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    per_member: Mapped[bool] = mapped_column(Boolean, default=False)
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class QueueRow(Base):
    """A refused request waiting in line for a flavor."""

    __tablename__ = "queue"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[str] = mapped_column(String(255))
    server: Mapped[str] = mapped_column(String(255))
    flavor: Mapped[str] = mapped_column(String(255))
    count: Mapped[int] = mapped_column(Integer)
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ActivityRow(Base):
    """One telemetry report from a user's server."""

    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_user_server_ts", "user", "server", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(255))
    server: Mapped[str] = mapped_column(String(255))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    devices: Mapped[int] = mapped_column(Integer)
    busy: Mapped[int] = mapped_column(Integer)
    utilization_avg: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_used_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    energy_wh: Mapped[float | None] = mapped_column(Float, nullable=True)


class JobRow(Base):
    """One offload job: its inputs, where it ran, how it ended, and the executed notebook."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_user_submitted_at", "user", "submitted_at"),
        Index("ix_jobs_open", "submitted_at", sqlite_where=OPEN, postgresql_where=OPEN),
        Index("ix_jobs_group_submitted_at", "group", "submitted_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[str] = mapped_column(String(255))
    group: Mapped[str | None] = mapped_column(String(255), nullable=True)
    name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    site: Mapped[str] = mapped_column(String(255))
    site_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    flavor: Mapped[str] = mapped_column(String(255))
    count: Mapped[int] = mapped_column(Integer)
    cell_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    setup: Mapped[str] = mapped_column(String(16))
    parameters: Mapped[str] = mapped_column(Text)  # JSON
    resources: Mapped[str] = mapped_column(Text)  # JSON
    image: Mapped[str] = mapped_column(String(512))
    input_sha256: Mapped[str] = mapped_column(String(64))
    notebook: Mapped[str] = mapped_column(Text)  # the submitted notebook, JSON
    namespace: Mapped[str] = mapped_column(String(255))
    pod: Mapped[str] = mapped_column(String(255))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # NULL while the job is pending or running.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    exit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    progress_cell: Mapped[int | None] = mapped_column(Integer, nullable=True)
    progress_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    energy_wh: Mapped[float | None] = mapped_column(Float, nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)  # executed notebook, JSON
    logs: Mapped[str | None] = mapped_column(Text, nullable=True)  # its log, without the frame


class QuotaChangeRow(Base):
    """One admin's change of a group's quotas or flavor access (``subject``: "quotas" or
    "flavors"): who, when, the table before and after (JSON; NULL: the group had none of its
    own, so the config file's quotas or the catalog's groups applied)."""

    __tablename__ = "quota_changes"
    __table_args__ = (Index("ix_quota_changes_changed_at", "changed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group: Mapped[str] = mapped_column(String(255))
    changed_by: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    subject: Mapped[str] = mapped_column(String(16), default="quotas", server_default="quotas")


class ReservationChangeRow(Base):
    """One reservation created, changed or cancelled: who, when, the reservation before and after
    (JSON of its name, flavor, window and size; NULL before a creation and after a cancel)."""

    __tablename__ = "reservation_changes"
    __table_args__ = (Index("ix_reservation_changes_group_changed_at", "group", "changed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reservation_id: Mapped[str] = mapped_column(String(32))
    group: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(16))  # created, changed, cancelled
    changed_by: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
