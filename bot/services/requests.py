"""Service requests: filing, reading, the timeline and cancelling.

Routing, acceptance and deadlines come later; for now a new request is
announced to the social workers whose home community it is in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.services import catalogue
from bot.services.errors import N_, InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.notices import Notice, NoticeButton, enqueue, localized
from bot.services.paging import clamp_page
from models import (
    CANCELLABLE,
    EventKind,
    RequestCounter,
    RequestEvent,
    RequestStatus,
    Role,
    ServiceRequest,
    SocialWorker,
    User,
    UserRole,
)

log = logging.getLogger(__name__)

DESCRIPTION_MAX = 500
DESCRIPTION_MIN_LETTERS = 2


@dataclass(frozen=True)
class RequestDraft:
    """What the resident chose, as kept between the steps of /new."""

    token: str
    category_id: int
    description: str
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Filed:
    request: ServiceRequest
    created: bool  # False when the same draft was confirmed twice


def clean_description(text: str | None) -> str:
    """The description as stored, or InvalidInput saying how to fix it."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise InvalidInput(N_("Please describe in a few words what help you need."))
    if len(cleaned) > DESCRIPTION_MAX:
        raise InvalidInput(
            N_("The description is too long. Please keep it within {limit} characters."),
            limit=DESCRIPTION_MAX,
            length=len(cleaned),
        )
    # Letters in any script (Chinese characters count) or digits; emoji alone say too little.
    if sum(1 for ch in cleaned if ch.isalnum()) < DESCRIPTION_MIN_LETTERS:
        raise InvalidInput(N_("Please describe what you need in words, so the social worker understands."))
    return cleaned


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


async def community_social_workers(session: AsyncSession, community_id: int) -> list[User]:
    stmt = (
        select(User)
        .join(SocialWorker, SocialWorker.user_id == User.id)
        .join(UserRole, (UserRole.user_id == User.id) & (UserRole.role == Role.SOCIAL_WORKER))
        .where(SocialWorker.home_community_id == community_id, SocialWorker.on_duty.is_(True))
        .order_by(User.id)
    )
    return list((await session.scalars(stmt)).all())


async def coordinators(session: AsyncSession) -> list[User]:
    stmt = (
        select(User)
        .join(UserRole, (UserRole.user_id == User.id) & (UserRole.role == Role.COORDINATOR))
        .order_by(User.id)
    )
    return list((await session.scalars(stmt)).all())


async def file_request(session: AsyncSession, resident: User, draft: RequestDraft, *, now: datetime) -> Filed:
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
    description = clean_description(draft.description)

    local_year = now.astimezone(ZoneInfo(community.timezone)).year
    request = ServiceRequest(
        resident_id=resident.id,
        community=community,
        category=category,
        description=description,
        latitude=draft.latitude,
        longitude=draft.longitude,
        contact_phone=draft.phone,
        status=RequestStatus.NEW,
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
    if draft.phone:
        # Shared with the consent button: remembered, with when the consent was given.
        resident.phone = draft.phone
        resident.phone_consent_at = now
    await _announce(session, request, resident, now=now)
    return Filed(request, created=True)


async def _announce(session: AsyncSession, request: ServiceRequest, resident: User, *, now: datetime) -> None:
    """Tell the community's social workers; with none on duty, tell the coordinators."""
    workers = await community_social_workers(session, request.community_id)
    params = {
        "number": request.number,
        "community": localized(request.community.name, request.community.name_en),
        "service": localized(request.category.name_zh, request.category.name_en),
        "resident": resident.display_name,
        "description": request.description,
    }
    view = (NoticeButton(N_("Open request"), "request.view", request.id),)
    if workers:
        enqueue(
            session,
            *(
                Notice(worker, N_("🆕 New request {number} in {community}\nService: {service}\nFrom: {resident}\n“{description}”"),
                       params, view)
                for worker in workers
            ),
            now=now,
        )
        note = ", ".join(worker.display_name for worker in workers)
    else:
        staff = await coordinators(session)
        if not staff:
            log.warning("request %s in community %s: no social worker on duty and no coordinator to tell",
                        request.number, request.community_id)
        enqueue(
            session,
            *(
                Notice(c, N_("⚠️ New request {number} in {community} has no social worker on duty there.\nService: {service}\n“{description}”"),
                       params, view)
                for c in staff
            ),
            now=now,
        )
        note = None
    session.add(RequestEvent(request_id=request.id, kind=EventKind.ANNOUNCED, note=note, created_at=now))


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


def can_view(user: User, request: ServiceRequest) -> bool:
    if request.resident_id == user.id or request.assigned_worker_id == user.id:
        return True
    if user.has_role(Role.COORDINATOR):
        return True
    worker = user.social_worker
    return bool(
        user.has_role(Role.SOCIAL_WORKER) and worker is not None and worker.home_community_id == request.community_id
    )


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
            selectinload(ServiceRequest.resident),
        )
    )
    if request is None:
        raise NotFound(N_("This request could not be found."))
    if not can_view(viewer, request):
        raise PermissionDenied(N_("This request is not yours to open."))
    return request


async def cancel_request(session: AsyncSession, resident: User, request_id: int, *, now: datetime) -> ServiceRequest:
    request = await session.get(ServiceRequest, request_id)
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
    recipients: list[User] = []
    if request.assigned_worker_id is not None:
        worker = await session.get(User, request.assigned_worker_id)
        recipients = [worker] if worker else []
    else:
        # Whoever was told of the request is told it is off: the community's social
        # workers, or the coordinators when none was on duty.
        recipients = await community_social_workers(session, request.community_id) or await coordinators(session)
    enqueue(
        session,
        *(
            Notice(r, N_("Request {number} was cancelled by the resident."), {"number": request.number})
            for r in recipients
        ),
        now=now,
    )
    return request
