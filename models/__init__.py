"""SQLAlchemy 2 typed models, one module per aggregate. Import from here."""

from models.base import Base, UTCDateTime
from models.catalogue import ServiceCategory, TargetGroup
from models.certificate import Certificate
from models.community import AreaType, Community, DistrictKind, Organization
from models.outbox import OutboxStatus, OutgoingMessage
from models.record import COUNTED, RecordStatus, ServiceRecord
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
from models.task import (
    HOLDING,
    AssignmentStatus,
    TaskAssignment,
    TaskKind,
    TaskStatus,
    Training,
    TrainingAttendee,
    VolunteerTask,
)
from models.user import STAFF_ROLES, Invite, Role, SocialWorker, SupportAssignment, User, UserRole, WorkerSpecialty
from models.volunteer import IdDocument, Sex, Volunteer, VolunteerAvailability, VolunteerCounter, VolunteerStatus

__all__ = [
    "ASSIGNED_OPEN",
    "HOLDING",
    "AssignmentStatus",
    "CANCELLABLE",
    "COUNTED",
    "OPEN_STATUSES",
    "STAFF_ROLES",
    "AreaType",
    "AttachmentKind",
    "Base",
    "CaseOffer",
    "Certificate",
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
    "RecordStatus",
    "Reminder",
    "ReminderStatus",
    "RequestAttachment",
    "RequestCounter",
    "RequestEvent",
    "RequestStatus",
    "Role",
    "Sex",
    "ServiceCategory",
    "ServiceRecord",
    "ServiceRequest",
    "SocialWorker",
    "SupportAssignment",
    "TargetGroup",
    "TaskAssignment",
    "TaskKind",
    "TaskStatus",
    "Training",
    "TrainingAttendee",
    "Urgency",
    "User",
    "UserRole",
    "Volunteer",
    "VolunteerAvailability",
    "VolunteerCounter",
    "VolunteerStatus",
    "VolunteerTask",
    "WorkerSpecialty",
    "UTCDateTime",
]
