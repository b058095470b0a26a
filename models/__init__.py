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
from models.volunteer import IdDocument, Sex, Volunteer, VolunteerAvailability, VolunteerCounter, VolunteerStatus

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
    "IdDocument",
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
    "Sex",
    "ServiceCategory",
    "ServiceRequest",
    "SocialWorker",
    "SupportAssignment",
    "TargetGroup",
    "Urgency",
    "User",
    "UserRole",
    "Volunteer",
    "VolunteerAvailability",
    "VolunteerCounter",
    "VolunteerStatus",
    "WorkerSpecialty",
    "UTCDateTime",
]
