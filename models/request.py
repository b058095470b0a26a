"""Service requests (求助) and their timeline of events."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, str_enum
from models.catalogue import ServiceCategory
from models.community import Community
from models.user import User


class RequestStatus(enum.StrEnum):
    NEW = "new"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


# A resident may cancel until the case is resolved.
CANCELLABLE = frozenset(
    {RequestStatus.NEW, RequestStatus.OFFERED, RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS}
)
OPEN_STATUSES = CANCELLABLE


class Urgency(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class EventKind(enum.StrEnum):
    CREATED = "created"
    ANNOUNCED = "announced"
    STATUS_CHANGED = "status_changed"
    CANCELLED = "cancelled"
    NOTE = "note"


class RequestCounter(Base):
    """Per-year sequence behind public request numbers such as 2026-000123."""

    __tablename__ = "request_counter"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(default=0)


class ServiceRequest(Base):
    __tablename__ = "service_request"
    __table_args__ = (
        # A double-pressed Confirm re-submits the same draft: it must not make a second request.
        UniqueConstraint("resident_id", "draft_token"),
        Index("ix_service_request_community_status", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete="RESTRICT"))
    category_id: Mapped[int] = mapped_column(ForeignKey("service_category.id", ondelete="RESTRICT"))
    description: Mapped[str] = mapped_column(Text)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, "urgency"), default=Urgency.NORMAL)
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, "status"), default=RequestStatus.NEW)
    assigned_worker_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    respond_by: Mapped[datetime | None]
    draft_token: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    resident: Mapped[User] = relationship(foreign_keys=[resident_id], lazy="raise")
    community: Mapped[Community] = relationship(lazy="joined")
    category: Mapped[ServiceCategory] = relationship(lazy="joined")
    events: Mapped[list[RequestEvent]] = relationship(
        back_populates="request", order_by="RequestEvent.id", cascade="all, delete-orphan", lazy="raise"
    )


class RequestEvent(Base):
    """One line of a case timeline; also the audit trail."""

    __tablename__ = "request_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind, "kind"))
    from_status: Mapped[RequestStatus | None] = mapped_column(str_enum(RequestStatus, "from_status"))
    to_status: Mapped[RequestStatus | None] = mapped_column(str_enum(RequestStatus, "to_status"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()

    request: Mapped[ServiceRequest] = relationship(back_populates="events", lazy="raise")
    actor: Mapped[User | None] = relationship(lazy="raise")
