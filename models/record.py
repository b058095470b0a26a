"""Volunteer service records (志愿服务记录): one per volunteer and task, from check-in to verification.

The Ministry of Civil Affairs' 2020 measures on volunteer service records ask that the
organisation record each service: who served, what, where, when and for how long, and
who recorded and verified it. A record opens at check-in, gets its minutes at check-out,
and counts only once the task's social worker has verified (or adjusted) it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, str_enum
from models.task import TaskAssignment, VolunteerTask


class RecordStatus(enum.StrEnum):
    CHECKED_IN = "checked_in"  # serving now: no check-out yet
    NO_CHECKOUT = "no_checkout"  # the grace period after the end passed without a check-out: flagged, not counted
    PENDING = "pending"  # checked out: waiting for the social worker's verification
    VERIFIED = "verified"
    ADJUSTED = "adjusted"  # verified with other minutes than served, and why
    REJECTED = "rejected"  # not counted, and why
    CORRECTION = "correction"  # the volunteer asked for a correction: back with the social worker


# Only these count toward a volunteer's hours and certificates.
COUNTED = (RecordStatus.VERIFIED, RecordStatus.ADJUSTED)


class ServiceRecord(Base):
    __tablename__ = "service_record"
    __table_args__ = (
        CheckConstraint("minutes IS NULL OR minutes > 0", name="record_minutes"),
        CheckConstraint("checked_out_at IS NULL OR checked_out_at > checked_in_at", name="record_period"),
        Index("ix_service_record_volunteer_status", "volunteer_id", "status"),
        Index("ix_service_record_task", "task_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("task_assignment.id", ondelete="CASCADE"), unique=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("volunteer_task.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.user_id", ondelete="CASCADE"))
    status: Mapped[RecordStatus] = mapped_column(str_enum(RecordStatus, "status"), default=RecordStatus.CHECKED_IN)
    checked_in_at: Mapped[datetime] = mapped_column()
    checked_out_at: Mapped[datetime | None]
    # Where they checked in, when shared, and how far that was from the task's place (metres).
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    distance_m: Mapped[int | None]
    minutes: Mapped[int | None]  # served, from check-in to check-out in whole minutes
    # Verification: what counts (the served minutes, or adjusted ones), by whom, when, and why.
    verified_minutes: Mapped[int | None]
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    verified_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)  # why adjusted or rejected
    correction_note: Mapped[str | None] = mapped_column(Text)  # the volunteer's words when asking for one
    flagged: Mapped[str | None] = mapped_column(String(40))  # far | no_checkout: shown to the social worker
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()

    assignment: Mapped[TaskAssignment] = relationship(lazy="raise")
    task: Mapped[VolunteerTask] = relationship(lazy="raise")
