"""Scheduled work kept as rows: the scheduler only ticks, the rows say what is due."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, str_enum


class ReminderStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"  # its work kept failing; left for an operator (logged)
    SKIPPED = "skipped"  # fell due while Linli was down and was stale by the time it came back (its kind's rule)


class Reminder(Base):
    __tablename__ = "reminder"
    __table_args__ = (
        Index("ix_reminder_due", "status", "due_at"),
        Index("ix_reminder_request_kind", "request_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime]
    status: Mapped[ReminderStatus] = mapped_column(str_enum(ReminderStatus, "status"), default=ReminderStatus.PENDING)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer_task.id", ondelete="CASCADE"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column()
    done_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
