"""Service requests (求助) and their timeline of events."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
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
    OFFERED = "offered"  # the case was offered to a worker (subject); `reason`: the routing level, or urgent
    DECLINED = "declined"  # a worker (actor) declined the offer; `reason`: a DeclineReason, `note`: their words
    OFFER_EXPIRED = "offer_expired"  # nobody answered the offer to the subject in time
    OFFER_WITHDRAWN = "offer_withdrawn"  # another worker accepted first; the subject's offer ended
    URGENT = "urgent"  # marked urgent; `reason`: resident | risk_words
    OVERDUE = "overdue"  # a deadline passed; `reason`: response | resolution
    ESCALATED = "escalated"  # told the supervisor (subject) or the coordinators (no subject); `reason`: the deadline
    INTERNAL_NOTE = "internal_note"  # a worker's note: never shown to the resident
    MESSAGE = "message"  # a worker's message to the resident (relayed by the bot)
    REPLY = "reply"  # the resident's answer to a worker's message
    HANDED_OVER = "handed_over"  # the case moved to another worker (subject)
    RATED = "rated"  # the resident's rating (`reason`: 1-5) and comment (`note`)
    REOPENED = "reopened"  # the resident reopened a resolved case; `note`: why
    TASK_CREATED = "task_created"  # a volunteer task for the case; `reason`: the task id
    VOLUNTEER_COMING = "volunteer_coming"  # a volunteer (subject) holds a place in the case's task (`reason`)
    VOLUNTEER_WITHDRAWN = "volunteer_withdrawn"  # a volunteer (subject) can no longer come
    TASK_CANCELLED = "task_cancelled"  # the case's volunteer task was cancelled; `note`: why


class OfferStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"  # not answered in time (a late Accept may still win while nobody holds the case)
    WITHDRAWN = "withdrawn"  # someone else accepted, or the request was cancelled


class DeclineReason(enum.StrEnum):
    """Why a worker declined an offer: buttons, plus their own words for OTHER."""

    CAPACITY = "capacity"  # too many cases
    NOT_SPECIALTY = "not_specialty"
    CONFLICT = "conflict"  # a conflict of interest (a relative, a neighbour)
    UNAVAILABLE = "unavailable"  # away, ill, off duty soon
    OTHER = "other"


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
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
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
    respond_by: Mapped[datetime | None]  # the promise of the receipt: accepted by then
    resolve_by: Mapped[datetime | None]  # set on acceptance: resolved by then
    accepted_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]  # when a deadline was first missed; cleared when the case moves on
    rating: Mapped[int | None]  # the resident's 1-5 for the help, with `rating_comment`
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None]
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


class CaseOffer(Base):
    """A case offered to one social worker, answered with Accept or Decline, or let time out.

    Normal requests have one pending offer at a time; urgent ones one per on-duty worker
    of the community at once. Acceptance is decided on the request (a compare-and-set on
    its status), never here: an offer only says who may try.
    """

    __tablename__ = "case_offer"
    __table_args__ = (
        Index("ix_case_offer_request_status", "request_id", "status"),
        Index("ix_case_offer_worker_status", "worker_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    status: Mapped[OfferStatus] = mapped_column(str_enum(OfferStatus, "status"), default=OfferStatus.PENDING)
    # Why this worker: the routing level, `urgent` (fan-out) or `escalated` (the supervisor after a missed deadline).
    reason: Mapped[str] = mapped_column(String(40))
    decline_reason: Mapped[DeclineReason | None] = mapped_column(str_enum(DeclineReason, "decline_reason"))
    decline_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None]

    request: Mapped[ServiceRequest] = relationship(lazy="raise")
    worker: Mapped[User] = relationship(lazy="raise")
