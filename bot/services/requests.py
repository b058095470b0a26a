"""Service requests: filing, reading, the timeline and cancelling.

A filed request is handed to `bot.services.cases`, which routes and offers it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.services import cases, catalogue
from bot.services.errors import N_, InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.notices import Notice, NoticeButton, described, enqueue
from bot.services.paging import clamp_page
from bot.services.risk import RiskWords, load_risk_words
from bot.services.users import coordinators
from models import (
    CANCELLABLE,
    OPEN_STATUSES,
    AttachmentKind,
    CaseOffer,
    ContactRelation,
    EventKind,
    OfferStatus,
    RequestAttachment,
    RequestCounter,
    RequestEvent,
    RequestStatus,
    Role,
    ServiceRequest,
    Urgency,
    User,
)

log = logging.getLogger(__name__)

DESCRIPTION_MAX = 500
DESCRIPTION_MIN_LETTERS = 2
# Photos, voice messages and video notes per request draft or per addition (an album holds 10).
ATTACHMENTS_MAX = 10
# Photos and recordings a request may hold in all (re-sent whenever staff open the card).
REQUEST_ATTACHMENTS_MAX = 30
CONTACT_NAME_MAX = 64


@dataclass(frozen=True)
class AttachmentDraft:
    """A photo, voice message or video note as Telegram described it."""

    kind: AttachmentKind
    file_id: str
    file_unique_id: str
    duration: int | None = None


@dataclass(frozen=True)
class RequestDraft:
    """What the resident chose, as kept between the steps of /new."""

    token: str
    category_id: int
    description: str
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = None  # E.164, from the shared contact or typed (see `parse_phone`)
    contact_relation: ContactRelation | None = None
    contact_name: str | None = None
    attachments: tuple[AttachmentDraft, ...] = field(default_factory=tuple)
    urgent: bool = False  # the resident marked it urgent


@dataclass(frozen=True)
class Filed:
    request: ServiceRequest
    created: bool  # False when the same draft was confirmed twice
    risks: tuple[str, ...] = ()  # crisis-word categories found in the description


def clean_description(text: str | None, *, has_media: bool = False) -> str:
    """The description as stored, or InvalidInput saying how to fix it.

    With a photo, voice message or video note the words are optional: the media
    say what is needed. Words given must still say something.
    """
    cleaned = (text or "").strip()
    if not cleaned:
        if has_media:
            return ""
        raise InvalidInput(N_("Please describe in a few words what help you need."))
    if len(cleaned) > DESCRIPTION_MAX:
        raise InvalidInput(
            N_("The description is too long. Please keep it within {limit} characters."),
            limit=DESCRIPTION_MAX,
            length=len(cleaned),
        )
    # Letters in any script (Chinese characters count) or digits; emoji alone say too little.
    if sum(1 for ch in cleaned if ch.isalnum()) < DESCRIPTION_MIN_LETTERS:
        raise InvalidInput(
            N_("“{text}” is too short for the social worker to understand. Please say who needs help and with "
               "what, for example “my mother needs help to see a doctor”, or send a voice message."),
            text=cleaned,
        )
    return cleaned


def combine_description(current: str, addition: str) -> str:
    """Words added to what was already written (a photo's caption after a voice message)."""
    if not current:
        return addition
    if not addition or addition in current:
        return current
    return f"{current}\n{addition}"


# Number types a person can be called on; service numbers (95588, 400…) and short codes are not.
_CALLABLE = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
)


def parse_phone(text: str | None) -> str:
    """A typed or shared phone number as E.164, or InvalidInput with examples.

    Mainland mobiles (13912345678), landlines with their area code (0351 1234567,
    (0351)7654321, 010-12345678) and numbers with +86 or spaces are understood;
    numbers abroad need their country code.
    """
    raw = (text or "").strip()
    digits = sum(ch.isdigit() for ch in raw)
    if not raw or len(raw) > 32 or digits < 5:
        raise InvalidInput(
            N_("This does not look like a phone number. Please type a mobile number such as 13912345678, "
               "or a landline with its area code such as 0351-1234567.")
        )
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in _CALLABLE:
        raise InvalidInput(
            N_("{text} is not a phone number that can be called. Please check it: a mobile number has 11 digits "
               "(13912345678); a landline needs its area code (0351-1234567)."),
            text=raw,
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """A stored number as people read it: 139 1234 5678, 0351 123 4567; others internationally."""
    try:
        number = phonenumbers.parse(e164, "CN")
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) == "CN":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def clean_contact_name(text: str | None) -> str:
    cleaned = " ".join((text or "").split())
    if not cleaned or not any(ch.isalpha() for ch in cleaned):
        raise InvalidInput(N_("Please type the name of the person we may call, for example “女儿 王芳”."))
    if len(cleaned) > CONTACT_NAME_MAX:
        raise InvalidInput(N_("Please keep the name within {limit} characters."), limit=CONTACT_NAME_MAX)
    return cleaned


def _attachment_rows(
    request: ServiceRequest, drafts: tuple[AttachmentDraft, ...], added_by: User, now: datetime,
    event: RequestEvent | None = None,
) -> list[RequestAttachment]:
    if len(drafts) > ATTACHMENTS_MAX:
        raise InvalidInput(N_("Please send at most {limit} photos or recordings at a time."), limit=ATTACHMENTS_MAX)
    return [
        RequestAttachment(
            request_id=request.id,
            event_id=event.id if event is not None else None,
            kind=draft.kind,
            file_id=draft.file_id[:255],
            file_unique_id=draft.file_unique_id[:64],
            duration=draft.duration,
            added_by_id=added_by.id,
            created_at=now,
        )
        for draft in drafts
    ]


async def _next_number(session: AsyncSession, year: int) -> str:
    """Atomically take the next per-year sequence value (upsert … RETURNING)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(RequestCounter)
        .values(year=year, last_value=1)
        .on_conflict_do_update(index_elements=[RequestCounter.year], set_={"last_value": RequestCounter.last_value + 1})
        .returning(RequestCounter.last_value)
    )
    value = (await session.execute(stmt)).scalar_one()
    return f"{year}-{value:06d}"


async def file_request(
    session: AsyncSession, resident: User, draft: RequestDraft, *, now: datetime, risk_words: RiskWords | None = None
) -> Filed:
    """Store the request and hand it to `cases` (routing, offers, deadlines).

    A request is urgent when the resident marked it so or when its words match the
    crisis words (`risk_words`, the bundled list by default); urgent requests are offered
    to every on-duty worker of the community, and crisis words alert the supervisor too.
    """
    community = resident.community
    if community is None:
        raise InvalidState(N_("Please choose your community first: send /start."))
    existing = await session.scalar(
        select(ServiceRequest).where(
            ServiceRequest.resident_id == resident.id, ServiceRequest.draft_token == draft.token
        )
    )
    if existing is not None:
        return Filed(existing, created=False)
    category = await catalogue.offered_category(session, community, draft.category_id)
    if category is None:
        raise InvalidInput(N_("This service is not offered in your community. Please choose again."))
    description = clean_description(draft.description, has_media=bool(draft.attachments))
    if len(draft.attachments) > ATTACHMENTS_MAX:  # checked before anything is written
        raise InvalidInput(N_("Please send at most {limit} photos or recordings at a time."), limit=ATTACHMENTS_MAX)
    relation = draft.contact_relation or (ContactRelation.SELF if draft.phone else None)
    if draft.phone and relation is not ContactRelation.SELF:
        contact_name = clean_contact_name(draft.contact_name)
    else:
        contact_name = None

    local_year = now.astimezone(ZoneInfo(community.timezone)).year
    risks = tuple((risk_words or load_risk_words()).matches(description))
    urgent = draft.urgent or bool(risks)
    request = ServiceRequest(
        resident_id=resident.id,
        community=community,
        category=category,
        description=description,
        latitude=draft.latitude,
        longitude=draft.longitude,
        contact_phone=draft.phone,
        contact_relation=relation if draft.phone else None,
        contact_name=contact_name,
        # Given at the step that asks whether the social worker may call: that is the consent.
        contact_consent_at=now if draft.phone else None,
        status=RequestStatus.NEW,
        urgency=Urgency.URGENT if urgent else Urgency.NORMAL,
        respond_by=now + timedelta(minutes=category.response_minutes),
        draft_token=draft.token,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            request.number = await _next_number(session, local_year)
            session.add(request)
            await session.flush()
    except IntegrityError:
        # The same draft was confirmed concurrently (a double press): return that request.
        existing = await session.scalar(
            select(ServiceRequest).where(
                ServiceRequest.resident_id == resident.id, ServiceRequest.draft_token == draft.token
            )
        )
        if existing is None:
            raise
        return Filed(existing, created=False)

    session.add(
        RequestEvent(request_id=request.id, actor_id=resident.id, kind=EventKind.CREATED,
                     to_status=RequestStatus.NEW, created_at=now)
    )
    if urgent:
        session.add(RequestEvent(request_id=request.id, actor_id=resident.id if draft.urgent else None,
                                 kind=EventKind.URGENT, reason="risk_words" if risks else "resident",
                                 note=", ".join(risks) or None, created_at=now))
    session.add_all(_attachment_rows(request, draft.attachments, resident, now))
    if draft.phone and relation is ContactRelation.SELF:
        # Their own number, given at the consent step: remembered, with when the consent was given.
        resident.phone = draft.phone
        resident.phone_consent_at = now
    await cases.start(session, request, now=now)
    if risks:
        await cases.alert_crisis(session, request, risks, now=now)
    return Filed(request, created=True, risks=risks)


def _description_param(description: str, attachments: tuple[AttachmentDraft, ...]) -> dict[str, Any] | str:
    """The description as a notice shows it: the words, and what media came with them."""
    return described(description, [(a.kind, a.duration) for a in attachments])


async def handlers_of(session: AsyncSession, request: ServiceRequest) -> list[User]:
    """Who is dealing with a request now: its worker, else those holding an offer of it, else the coordinators."""
    if request.assigned_worker_id is not None:
        worker = await session.get(User, request.assigned_worker_id)
        if worker is not None:
            return [worker]
    offered = list(
        (
            await session.scalars(
                select(User)
                .join(CaseOffer, CaseOffer.worker_id == User.id)
                .where(CaseOffer.request_id == request.id, CaseOffer.status == OfferStatus.PENDING)
                .order_by(User.id)
                .distinct()
            )
        ).all()
    )
    return offered or await coordinators(session)


@dataclass(frozen=True)
class RequestPage:
    items: list[ServiceRequest]
    page: int
    pages: int


async def list_for_resident(session: AsyncSession, resident: User, page: int = 0, per_page: int = 6) -> RequestPage:
    """The resident's requests, newest first, one page at a time."""
    total = await session.scalar(
        select(func.count()).select_from(ServiceRequest).where(ServiceRequest.resident_id == resident.id)
    ) or 0
    page, pages = clamp_page(total, page, per_page)
    stmt = (
        select(ServiceRequest)
        .where(ServiceRequest.resident_id == resident.id)
        .order_by(ServiceRequest.created_at.desc(), ServiceRequest.id.desc())
        .offset(page * per_page)
        .limit(per_page)
    )
    return RequestPage(list((await session.scalars(stmt)).all()), page, pages)


async def can_view(session: AsyncSession, user: User, request: ServiceRequest) -> bool:
    """The resident, coordinators, the worker holding it, whoever it was offered to, and the station's supervisor.

    Other social workers, of the same community too, never see a case that was not offered to them.
    """
    if request.resident_id == user.id or request.assigned_worker_id == user.id:
        return True
    if user.has_role(Role.COORDINATOR):
        return True
    worker = user.social_worker
    if not user.has_role(Role.SOCIAL_WORKER) or worker is None:
        return False
    if worker.is_supervisor and worker.home_community_id == request.community_id:
        return True
    return await cases.was_offered(session, user, request.id)


def can_cancel(user: User, request: ServiceRequest) -> bool:
    """Only the resident who filed it, and only until it is resolved."""
    return request.resident_id == user.id and request.status in CANCELLABLE


async def get_visible(session: AsyncSession, viewer: User, request_id: int) -> ServiceRequest:
    """The request with its timeline, if this person may see it; never trusts the id's origin."""
    request = await session.scalar(
        select(ServiceRequest)
        .where(ServiceRequest.id == request_id)
        .options(
            selectinload(ServiceRequest.events).selectinload(RequestEvent.actor),
            selectinload(ServiceRequest.events).selectinload(RequestEvent.subject),
            selectinload(ServiceRequest.resident),
            selectinload(ServiceRequest.attachments),
        )
    )
    if request is None:
        raise NotFound(N_("This request could not be found."))
    if not await can_view(session, viewer, request):
        raise PermissionDenied(N_("This request is not yours to open."))
    return request


async def cancel_request(session: AsyncSession, resident: User, request_id: int, *, now: datetime) -> ServiceRequest:
    request = await cases.lock_request(session, request_id)  # fresh and locked: an Accept may be under way
    if request is None:
        raise NotFound(N_("This request could not be found."))
    if request.resident_id != resident.id:
        raise PermissionDenied(N_("Only the person who filed a request can cancel it."))
    if request.status not in CANCELLABLE:
        raise InvalidState(
            N_("Request {number} can no longer be cancelled."), number=request.number
        )
    previous = request.status
    # Compare-and-set: a worker acting on the case at the same moment makes this a no-op.
    result = await session.execute(
        update(ServiceRequest)
        .where(ServiceRequest.id == request.id, ServiceRequest.version == request.version,
               ServiceRequest.status.in_(CANCELLABLE))
        .values(status=RequestStatus.CANCELLED, cancelled_at=now, updated_at=now,
                version=ServiceRequest.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise InvalidState(N_("Request {number} changed just now. Please open it again."), number=request.number)
    await session.refresh(request)
    session.add(RequestEvent(request_id=request.id, actor_id=resident.id, kind=EventKind.CANCELLED,
                             from_status=previous, to_status=RequestStatus.CANCELLED, created_at=now))
    recipients = await handlers_of(session, request)
    await cases.withdraw_offers(session, request, now=now)
    from bot.services import tasks  # tasks reads requests' cases; imported here to keep the graph simple

    await tasks.cancel_for_request(session, request.id, now=now)  # volunteers are not sent to the door
    enqueue(
        session,
        *(
            Notice(r, N_("Request {number} was cancelled by the resident."), {"number": request.number})
            for r in recipients
        ),
        now=now,
    )
    return request


def can_add_information(user: User, request: ServiceRequest) -> bool:
    """The resident who filed it, while the case is open."""
    return request.resident_id == user.id and request.status in OPEN_STATUSES


async def add_information(
    session: AsyncSession,
    resident: User,
    request_id: int,
    text: str | None,
    attachments: tuple[AttachmentDraft, ...] = (),
    *,
    join_event_id: int | None = None,
    now: datetime,
) -> RequestEvent:
    """Words, photos or recordings a resident adds to their open request, on its timeline.

    Whoever is handling it is told: the assigned social worker, or else those who
    were told of the request (the community's social workers, or the coordinators).
    ``join_event_id`` adds to an earlier addition of the same person and request
    quietly (the rest of a photo album). Returns the timeline event.
    """
    request = await session.get(ServiceRequest, request_id)
    if request is None:
        raise NotFound(N_("This request could not be found."))
    if request.resident_id != resident.id:
        raise PermissionDenied(N_("Only the person who filed a request can add to it."))
    if request.status not in OPEN_STATUSES:
        raise InvalidState(N_("Request {number} is closed; please send /new if you need help again."),
                           number=request.number)
    words = clean_description(text, has_media=bool(attachments))
    if len(attachments) > ATTACHMENTS_MAX:
        raise InvalidInput(N_("Please send at most {limit} photos or recordings at a time."), limit=ATTACHMENTS_MAX)
    held = await session.scalar(
        select(func.count()).select_from(RequestAttachment).where(RequestAttachment.request_id == request.id)
    ) or 0
    if attachments and held + len(attachments) > REQUEST_ATTACHMENTS_MAX:
        raise InvalidInput(
            N_("Request {number} already has {count} photos and recordings. Please tell the rest in words."),
            number=request.number, count=held,
        )
    joined = await session.get(RequestEvent, join_event_id) if join_event_id is not None else None
    if joined is not None and joined.request_id == request.id and joined.actor_id == resident.id:
        if words:
            joined.note = combine_description(joined.note or "", words)
        session.add_all(_attachment_rows(request, attachments, resident, now, joined))
        request.updated_at = now
        return joined
    event = RequestEvent(request_id=request.id, actor_id=resident.id, kind=EventKind.NOTE,
                         note=words or None, created_at=now)
    session.add(event)
    await session.flush()
    session.add_all(_attachment_rows(request, attachments, resident, now, event))
    request.updated_at = now
    recipients = await handlers_of(session, request)
    enqueue(
        session,
        *(
            Notice(r, N_("➕ The resident added to request {number}:\n“{description}”"),
                   {"number": request.number, "description": _description_param(words, attachments)},
                   (NoticeButton(N_("Open request"), "request.view", request.id),))
            for r in recipients
        ),
        now=now,
    )
    return event
