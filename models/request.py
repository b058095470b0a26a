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
# The statuses in which a request counts against its assigned worker's capacity.
ASSIGNED_OPEN = (RequestStatus.OFFERED, RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS)


class Urgency(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class ContactRelation(enum.StrEnum):
    """Whose phone number a request gives (本人 / 家属 / 其他联系人)."""

    SELF = "self"
    FAMILY = "family"
    OTHER = "other"


class AttachmentKind(enum.StrEnum):
    PHOTO = "photo"
    VOICE = "voice"
    VIDEO_NOTE = "video_note"


class EventKind(enum.StrEnum):
    CREATED = "created"
    ANNOUNCED = "announced"
    STATUS_CHANGED = "status_changed"
    CANCELLED = "cancelled"
    NOTE = "note"
    ROUTED = "routed"  # routing chose a worker (subject), or nobody; `reason` says why


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
        # Routing counts each worker's open cases on every decision.
        Index("ix_service_request_assigned_worker_status", "assigned_worker_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete="RESTRICT"))
    category_id: Mapped[int] = mapped_column(ForeignKey("service_category.id", ondelete="RESTRICT"))
    description: Mapped[str] = mapped_column(Text)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    contact_phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    contact_relation: Mapped[ContactRelation | None] = mapped_column(str_enum(ContactRelation, "contact_relation"))
    contact_name: Mapped[str | None] = mapped_column(String(64))  # a relative's or other contact's name
    # When the resident agreed that this number may be called (sharing or typing it at the consent step).
    contact_consent_at: Mapped[datetime | None]
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
    attachments: Mapped[list[RequestAttachment]] = relationship(
        back_populates="request", order_by="RequestAttachment.id", cascade="all, delete-orphan", lazy="raise"
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
    # Whom the event concerns, when that is not the actor: the worker a request was routed to.
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    # Why, as a stable code (routing: specialist, community, support, supervisor, nobody).
    reason: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column()

    request: Mapped[ServiceRequest] = relationship(back_populates="events", lazy="raise")
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="raise")
    subject: Mapped[User | None] = relationship(foreign_keys=[subject_id], lazy="raise")


class RequestAttachment(Base):
    """A photo, voice message or video note a resident gave with a request, kept by Telegram file_id.

    The media stay on Telegram's side; the bot re-sends them by ``file_id`` to whoever
    opens the case. ``event_id`` is set when they came later, with added information.
    """

    __tablename__ = "request_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("request_event.id", ondelete="SET NULL"))
    kind: Mapped[AttachmentKind] = mapped_column(str_enum(AttachmentKind, "kind"))
    file_id: Mapped[str] = mapped_column(String(255))
    file_unique_id: Mapped[str] = mapped_column(String(64))
    duration: Mapped[int | None]  # seconds, for voice messages and video notes
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column()

    request: Mapped[ServiceRequest] = relationship(back_populates="attachments", lazy="raise")
