"""SQLAlchemy 2 typed models, one module per aggregate. Import from here."""

from models.base import Base, UTCDateTime
from models.catalogue import ServiceCategory, TargetGroup
from models.community import AreaType, Community, DistrictKind, Organization
from models.outbox import OutboxStatus, OutgoingMessage
from models.reminder import Reminder, ReminderStatus
from models.request import (
    CANCELLABLE,
    OPEN_STATUSES,
    EventKind,
    RequestCounter,
    RequestEvent,
    RequestStatus,
    ServiceRequest,
    Urgency,
)
from models.user import STAFF_ROLES, Invite, Role, SocialWorker, User, UserRole

__all__ = [
    "CANCELLABLE",
    "OPEN_STATUSES",
    "STAFF_ROLES",
    "AreaType",
    "Base",
    "Community",
    "DistrictKind",
    "EventKind",
    "Invite",
    "Organization",
    "OutboxStatus",
    "OutgoingMessage",
    "Reminder",
    "ReminderStatus",
    "RequestCounter",
    "RequestEvent",
    "RequestStatus",
    "Role",
    "ServiceCategory",
    "ServiceRequest",
    "SocialWorker",
    "TargetGroup",
    "Urgency",
    "User",
    "UserRole",
    "UTCDateTime",
]
