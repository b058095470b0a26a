"""SQLAlchemy 2 typed models, one module per aggregate. Import from here."""

from models.base import Base, UTCDateTime
from models.catalogue import ServiceCategory, TargetGroup
from models.community import AreaType, Community, DistrictKind, Organization
from models.outbox import OutboxStatus, OutgoingMessage
from models.reminder import Reminder, ReminderStatus
from models.request import (
    ASSIGNED_OPEN,
    CANCELLABLE,
    OPEN_STATUSES,
    AttachmentKind,
    CaseOffer,
    ContactRelation,
    DeclineReason,
    EventKind,
    OfferStatus,
    RequestAttachment,
    RequestCounter,
    RequestEvent,
    RequestStatus,
    ServiceRequest,
    Urgency,
)
from models.user import STAFF_ROLES, Invite, Role, SocialWorker, SupportAssignment, User, UserRole, WorkerSpecialty

__all__ = [
    "ASSIGNED_OPEN",
    "CANCELLABLE",
    "OPEN_STATUSES",
    "STAFF_ROLES",
    "AreaType",
    "AttachmentKind",
    "Base",
    "CaseOffer",
    "Community",
    "ContactRelation",
    "DeclineReason",
    "DistrictKind",
    "EventKind",
    "Invite",
    "OfferStatus",
    "Organization",
    "OutboxStatus",
    "OutgoingMessage",
    "Reminder",
    "ReminderStatus",
    "RequestAttachment",
    "RequestCounter",
    "RequestEvent",
    "RequestStatus",
    "Role",
    "ServiceCategory",
    "ServiceRequest",
    "SocialWorker",
    "SupportAssignment",
    "TargetGroup",
    "Urgency",
    "User",
    "UserRole",
    "WorkerSpecialty",
    "UTCDateTime",
]
