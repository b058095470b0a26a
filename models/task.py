"""Volunteer tasks (志愿服务活动), the volunteers offered them, and volunteers' trainings.

A social worker makes a task from one of their cases or as a group or community
activity. `bot.services.dispatch` ranks approved volunteers and offers the task in
waves; each offer is a `TaskAssignment` row that moves offered → accepted or
waitlisted (or declined), and an accepted one may later be withdrawn. The place count
is decided under a lock on the task row, never from the assignments alone.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, str_enum
from models.community import Community
from models.user import User
from models.volunteer import Volunteer


class TaskKind(enum.StrEnum):
    CASE = "case"  # help for one resident's case (linked to the request)
    GROUP = "group"  # a group activity (小组活动)
    COMMUNITY = "community"  # a community activity (社区活动)


class TaskStatus(enum.StrEnum):
    OPEN = "open"  # recruiting or staffed; volunteers may still withdraw
    CANCELLED = "cancelled"


class AssignmentStatus(enum.StrEnum):
    OFFERED = "offered"  # waiting for the volunteer's answer
    ACCEPTED = "accepted"  # holds one of the places
    WAITLISTED = "waitlisted"  # accepted after the places were taken; promoted when someone withdraws
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"  # accepted or waitlisted, then could not come
    EXPIRED = "expired"  # never answered before the task began
    CANCELLED = "cancelled"  # the task was cancelled


# An assignment in these statuses still concerns the volunteer (they hold a place or wait for one).
HOLDING = (AssignmentStatus.ACCEPTED, AssignmentStatus.WAITLISTED)


class VolunteerTask(Base):
    __tablename__ = "volunteer_task"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="task_period"),
        CheckConstraint("needed >= 1", name="task_needed"),
        Index("ix_volunteer_task_owner_start", "created_by_id", "starts_at"),
        Index("ix_volunteer_task_community_start", "community_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TaskKind] = mapped_column(str_enum(TaskKind, "kind"))
    title: Mapped[str] = mapped_column(String(100))
    details: Mapped[str | None] = mapped_column(Text)
    place: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    starts_at: Mapped[datetime]  # UTC; shown in the community's time zone
    ends_at: Mapped[datetime]
    needed: Mapped[int]
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)  # codes of bot/services/volunteers.SKILLS
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete="RESTRICT"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("service_request.id", ondelete="SET NULL"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"))
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus, "status"), default=TaskStatus.OPEN)
    waves: Mapped[int] = mapped_column(default=0)  # offer waves sent so far
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()

    community: Mapped[Community] = relationship(lazy="joined")
    created_by: Mapped[User] = relationship(lazy="raise")
    assignments: Mapped[list[TaskAssignment]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskAssignment.id", lazy="raise"
    )


class TaskAssignment(Base):
    """One volunteer's part in one task: offered, then accepted, waitlisted or declined."""

    __tablename__ = "task_assignment"
    __table_args__ = (
        UniqueConstraint("task_id", "volunteer_id"),
        Index("ix_task_assignment_task_status", "task_id", "status"),
        Index("ix_task_assignment_volunteer_status", "volunteer_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("volunteer_task.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.user_id", ondelete="CASCADE"))
    status: Mapped[AssignmentStatus] = mapped_column(str_enum(AssignmentStatus, "status"),
                                                     default=AssignmentStatus.OFFERED)
    wave: Mapped[int] = mapped_column(default=0)  # 0: added directly by the social worker
    rank: Mapped[int | None]  # the volunteer's place in the ranking when offered
    offered_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None]  # accepted, waitlisted or declined; orders the waitlist
    placed_at: Mapped[datetime | None]  # when they got a place (accepted, added, or promoted from the waitlist)
    confirmed_at: Mapped[datetime | None]  # "still coming" after a reminder
    withdrawn_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)  # why declined or withdrawn, in their words

    task: Mapped[VolunteerTask] = relationship(back_populates="assignments", lazy="raise")
    volunteer: Mapped[Volunteer] = relationship(lazy="raise")


class Training(Base):
    """A training (培训) a social worker records for one or more volunteers."""

    __tablename__ = "training"
    __table_args__ = (CheckConstraint("minutes > 0", name="training_minutes"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    minutes: Mapped[int]  # length; shown as hours
    organiser: Mapped[str] = mapped_column(String(100))
    held_on: Mapped[date] = mapped_column(Date)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id", ondelete="SET NULL"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column()

    attendees: Mapped[list[TrainingAttendee]] = relationship(
        back_populates="training", cascade="all, delete-orphan", lazy="raise"
    )


class TrainingAttendee(Base):
    __tablename__ = "training_attendee"

    training_id: Mapped[int] = mapped_column(ForeignKey("training.id", ondelete="CASCADE"), primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.user_id", ondelete="CASCADE"), primary_key=True,
                                              index=True)

    training: Mapped[Training] = relationship(back_populates="attendees", lazy="raise")
