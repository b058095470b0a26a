"""Running a case once it is accepted: work, notes, messages, hand-over, resolution, closing.

No aiogram here. Each function checks who may act (callback data is never trusted),
changes the request with a compare-and-set where two people could act at once,
records a `RequestEvent`, and writes its notices to the outbox in the same transaction.

* The worker who holds a case starts work on it, adds internal notes (never shown to
  the resident), messages the resident through the bot (the resident's replies come
  back the same way; neither sees the other's Telegram account) and resolves it with a
  summary.
* The station's supervisor or a coordinator hands a case over to another worker.
* The resident confirms the resolution and rates the help (1-5, optional comment), or
  reopens it with a reason while it is resolved. Unconfirmed cases close by themselves
  after `CasePolicy.auto_close_days`; one reminder to rate goes out before that.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import cases
from bot.services.cases import CasePolicy, public_name
from bot.services.errors import N_, InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.notices import Notice, NoticeButton, enqueue, station_line
from bot.services.paging import clamp_page
from models import (
    CaseOffer,
    EventKind,
    OfferStatus,
    Reminder,
    RequestEvent,
    RequestStatus,
    Role,
    ServiceRequest,
    SocialWorker,
    SupportAssignment,
    User,
    UserRole,
)

NOTE_MAX = 1000
MESSAGE_MAX = 1000
SUMMARY_MAX = 1000
COMMENT_MAX = 500
REASON_MAX = 300

AUTO_CLOSE = "auto_close"
RATING_REMINDER = "rating_reminder"

HELD = cases.HELD


class CaseView(enum.StrEnum):
    """The lists of /cases."""

    OFFERED = "offered"  # offered to me, waiting for my answer
    MINE = "mine"  # accepted by me, not yet resolved
    WAITING = "waiting"  # nobody could be offered it: the coordinators' queue (a supervisor: the station's)
    OVERDUE = "overdue"  # past a deadline: mine, or (supervisors) the station's, or (coordinators) all


def views_for(user: User) -> list[CaseView]:
    """The lists of /cases this person has: workers their own, supervisors also the station's, coordinators all."""
    views: list[CaseView] = []
    worker = user.social_worker
    if user.has_role(Role.SOCIAL_WORKER):
        views += [CaseView.OFFERED, CaseView.MINE]
        if worker is not None and worker.is_supervisor:
            views.append(CaseView.WAITING)
    if user.has_role(Role.COORDINATOR) and CaseView.WAITING not in views:
        views.append(CaseView.WAITING)
    if views:
        views.append(CaseView.OVERDUE)
    return views


@dataclass(frozen=True)
class CasePage:
    items: list[ServiceRequest]
    page: int
    pages: int
    total: int


# --- who may do what ---------------------------------------------------------------------------


def is_supervisor_of(user: User, request: ServiceRequest) -> bool:
    worker = user.social_worker
    return bool(
        user.has_role(Role.SOCIAL_WORKER) and worker is not None and worker.is_supervisor
        and worker.home_community_id == request.community_id
    )


def can_manage(user: User, request: ServiceRequest) -> bool:
    """Hand-over and oversight: the station's supervisor or a coordinator."""
    return user.has_role(Role.COORDINATOR) or is_supervisor_of(user, request)


def holds(user: User, request: ServiceRequest) -> bool:
    return request.assigned_worker_id == user.id and request.status in HELD


def holds_any(request: ServiceRequest) -> bool:
    """Whether a social worker is handling the case now (the resident's replies reach them)."""
    return request.assigned_worker_id is not None and request.status in HELD


def can_rate(request: ServiceRequest) -> bool:
    """Resolved (or closed after resolution by itself) and not yet rated."""
    return request.rating is None and (
        request.status is RequestStatus.RESOLVED
        or (request.status is RequestStatus.CLOSED and request.resolved_at is not None)
    )


def can_reopen(request: ServiceRequest) -> bool:
    return request.status is RequestStatus.RESOLVED


NOT_A_CANDIDATE = N_("That social worker cannot take this case. Please choose from the list.")
NOTES_DENIED = N_("Only the social worker on the case, the supervisor or a coordinator can add notes.")


def require_note_permission(user: User, request: ServiceRequest) -> None:
    if not (holds(user, request) or can_manage(user, request)):
        raise PermissionDenied(NOTES_DENIED)


async def get_request(session: AsyncSession, request_id: int) -> ServiceRequest:
    request = await cases.lock_request(session, request_id)  # fresh and locked: see cases.lock_request
    if request is None:
        raise NotFound(N_("This request could not be found."))
    return request


async def held_by(session: AsyncSession, user: User, request_id: int) -> ServiceRequest:
    """The case, if this person holds it now; else why not."""
    if not user.has_role(Role.SOCIAL_WORKER):
        raise PermissionDenied(N_("Only social workers can take on cases."))
    request = await get_request(session, request_id)
    if request.assigned_worker_id != user.id:
        raise PermissionDenied(N_("Request {number} is not one of your cases."), number=request.number)
    if request.status not in HELD:
        raise InvalidState(N_("Request {number} is no longer open."), number=request.number)
    return request


def _clean(text: str | None, limit: int, empty: str, too_long: str) -> str:
    cleaned = (text or "").strip()
    if not cleaned or not any(ch.isalnum() for ch in cleaned):
        raise InvalidInput(empty)
    if len(cleaned) > limit:
        raise InvalidInput(too_long, limit=limit)
    return cleaned


def _event(request: ServiceRequest, kind: EventKind, actor: User | None, now: datetime, **fields: object) -> RequestEvent:
    return RequestEvent(request_id=request.id, actor_id=actor.id if actor else None, kind=kind, created_at=now,
                        **fields)


async def _change_status(
    session: AsyncSession, request: ServiceRequest, allowed: tuple[RequestStatus, ...], to: RequestStatus,
    *, now: datetime, **values: object,
) -> RequestStatus:
    """Compare-and-set the status; InvalidState when someone changed the case meanwhile."""
    previous = request.status
    changed = await session.execute(
        update(ServiceRequest)
        .where(ServiceRequest.id == request.id, ServiceRequest.status.in_(allowed),
               ServiceRequest.version == request.version)
        .values(status=to, updated_at=now, version=ServiceRequest.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(request)
    if changed.rowcount != 1:
        raise InvalidState(N_("Request {number} changed just now. Please open it again."), number=request.number)
    return previous


def _resident_buttons(request: ServiceRequest) -> tuple[NoticeButton, ...]:
    return (NoticeButton(N_("Open request"), "request.view", request.id),)


async def _tell_resident(session: AsyncSession, request: ServiceRequest, template: str, worker: User | None,
                         *, now: datetime, buttons: tuple[NoticeButton, ...] | None = None, **params: object) -> None:
    """A status notice to the resident; templates end with ``{station}`` (the station's phone line, or nothing)."""
    resident = await session.get(User, request.resident_id)
    if resident is None:
        return
    values: dict[str, object] = {"number": request.number, "name": public_name(worker) if worker else "",
                                 "station": station_line(request.community.station_phone), **params}
    enqueue(session, Notice(resident, template, values, buttons if buttons is not None else _resident_buttons(request)),
            now=now)


# --- /cases ---------------------------------------------------------------------------------


def _view_statement(user: User, view: CaseView) -> Select[tuple[ServiceRequest]]:
    if view is CaseView.OFFERED:
        return (
            select(ServiceRequest)
            .join(CaseOffer, CaseOffer.request_id == ServiceRequest.id)
            .where(CaseOffer.worker_id == user.id, CaseOffer.status == OfferStatus.PENDING,
                   ServiceRequest.status.in_(cases.ACCEPTABLE))
            .distinct()
        )
    if view is CaseView.MINE:
        return select(ServiceRequest).where(ServiceRequest.assigned_worker_id == user.id,
                                            ServiceRequest.status.in_(HELD))
    worker = user.social_worker
    station = worker.home_community_id if worker is not None and worker.is_supervisor else None
    if view is CaseView.WAITING:
        nobody_asked = ~exists().where(CaseOffer.request_id == ServiceRequest.id,
                                       CaseOffer.status == OfferStatus.PENDING)
        waiting = select(ServiceRequest).where(ServiceRequest.status.in_(cases.ACCEPTABLE),
                                               ServiceRequest.assigned_worker_id.is_(None), nobody_asked)
        if user.has_role(Role.COORDINATOR):
            return waiting
        return waiting.where(ServiceRequest.community_id == (station or -1))
    open_overdue = and_(ServiceRequest.overdue_at.is_not(None),
                        ServiceRequest.status.in_((*cases.ACCEPTABLE, *HELD)))
    if user.has_role(Role.COORDINATOR):
        return select(ServiceRequest).where(open_overdue)
    if station is not None:
        return select(ServiceRequest).where(open_overdue, or_(
            ServiceRequest.assigned_worker_id == user.id, ServiceRequest.community_id == worker.home_community_id))
    return select(ServiceRequest).where(open_overdue, ServiceRequest.assigned_worker_id == user.id)


async def list_cases(session: AsyncSession, user: User, view: CaseView, page: int = 0, per_page: int = 6) -> CasePage:
    """One page of a list of /cases, most urgent and oldest first."""
    if view not in views_for(user):
        raise PermissionDenied(N_("/cases is for social workers. To see your own requests, send /my."))
    stmt = _view_statement(user, view)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page, pages = clamp_page(total, page, per_page)
    rows = await session.scalars(
        stmt.order_by(ServiceRequest.urgency.desc(), ServiceRequest.created_at, ServiceRequest.id)
        .offset(page * per_page).limit(per_page)
    )
    return CasePage(list(rows.unique().all()), page, pages, total)


async def counts(session: AsyncSession, user: User) -> dict[CaseView, int]:
    found = {}
    for view in views_for(user):
        stmt = _view_statement(user, view)
        found[view] = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return found


# --- the worker's actions ----------------------------------------------------------------------


async def start_work(session: AsyncSession, worker: User, request_id: int, *, now: datetime) -> ServiceRequest:
    request = await held_by(session, worker, request_id)
    if request.status is RequestStatus.IN_PROGRESS:
        raise InvalidState(N_("Request {number} is already in progress."), number=request.number)
    previous = await _change_status(session, request, (RequestStatus.ACCEPTED,), RequestStatus.IN_PROGRESS, now=now)
    session.add(_event(request, EventKind.STATUS_CHANGED, worker, now, from_status=previous,
                       to_status=RequestStatus.IN_PROGRESS))
    await _tell_resident(session, request, N_("🛠 Social worker {name} has started working on your request {number}.\n{station}"),
                         worker, now=now)
    return request


async def add_note(session: AsyncSession, author: User, request_id: int, text: str | None, *,
                   now: datetime) -> RequestEvent:
    """An internal note on the case timeline: for staff only, never shown or sent to the resident."""
    request = await get_request(session, request_id)
    require_note_permission(author, request)
    note = _clean(text, NOTE_MAX, N_("Please type the note."), N_("Please keep the note within {limit} characters."))
    event = _event(request, EventKind.INTERNAL_NOTE, author, now, note=note)
    session.add(event)
    request.updated_at = now
    return event


async def message_resident(session: AsyncSession, worker: User, request_id: int, text: str | None, *,
                           now: datetime) -> RequestEvent:
    """A message to the resident, relayed by the bot with a Reply button; on the timeline for both."""
    request = await held_by(session, worker, request_id)
    words = _clean(text, MESSAGE_MAX, N_("Please type the message."),
                   N_("Please keep the message within {limit} characters."))
    event = _event(request, EventKind.MESSAGE, worker, now, note=words)
    session.add(event)
    request.updated_at = now
    resident = await session.get(User, request.resident_id)
    if resident is not None:
        enqueue(session, Notice(
            resident, N_("💬 Social worker {name} about your request {number}:\n“{text}”"),
            {"name": public_name(worker), "number": request.number, "text": words},
            (NoticeButton(N_("↩️ Reply"), "request.reply", request.id), *_resident_buttons(request)),
        ), now=now)
    return event


async def reply_to_worker(session: AsyncSession, resident: User, request_id: int, text: str | None, *,
                          now: datetime) -> RequestEvent:
    """The resident's answer, relayed to whoever holds the case."""
    request = await get_request(session, request_id)
    if request.resident_id != resident.id:
        raise PermissionDenied(N_("Only the person who filed a request can reply about it."))
    if request.status not in HELD or request.assigned_worker_id is None:
        raise InvalidState(N_("Request {number} is not being handled by a social worker now; to add something, "
                              "open it with /my."), number=request.number)
    words = _clean(text, MESSAGE_MAX, N_("Please type your answer."),
                   N_("Please keep the message within {limit} characters."))
    event = _event(request, EventKind.REPLY, resident, now, note=words)
    session.add(event)
    request.updated_at = now
    worker = await session.get(User, request.assigned_worker_id)
    if worker is not None:
        enqueue(session, Notice(
            worker, N_("💬 The resident answered about request {number}:\n“{text}”"),
            {"number": request.number, "text": words},
            (NoticeButton(N_("💬 Message the resident"), "case.message", request.id),
             NoticeButton(N_("Open request"), "request.view", request.id)),
        ), now=now)
    return event


async def resolve(session: AsyncSession, worker: User, request_id: int, summary: str | None, *, now: datetime,
                  policy: CasePolicy) -> ServiceRequest:
    """Resolved, with a summary the resident reads; they confirm and rate, or reopen."""
    request = await held_by(session, worker, request_id)
    words = _clean(summary, SUMMARY_MAX, N_("Please say in a few words what was done."),
                   N_("Please keep the summary within {limit} characters."))
    previous = await _change_status(session, request, HELD, RequestStatus.RESOLVED, now=now, resolved_at=now,
                                    overdue_at=None)
    session.add(_event(request, EventKind.STATUS_CHANGED, worker, now, from_status=previous,
                       to_status=RequestStatus.RESOLVED, note=words))
    await cases.cancel_reminders(session, request.id, (cases.RESOLUTION_DUE, cases.ESCALATE), now=now)
    cases.schedule(session, RATING_REMINDER, now + timedelta(days=policy.rating_reminder_days), now=now,
                   request=request)
    cases.schedule(session, AUTO_CLOSE, now + timedelta(days=policy.auto_close_days), now=now, request=request)
    await _tell_resident(
        session, request,
        N_("✅ Your request {number} has been resolved by social worker {name}:\n“{summary}”\n"
           "Please confirm and rate the help, or reopen it within {days} days if it is not solved.\n{station}"),
        worker, now=now, summary=words, days=policy.auto_close_days,
        buttons=(NoticeButton(N_("⭐ Confirm and rate"), "request.rate", request.id),
                 NoticeButton(N_("↩️ Not solved: reopen"), "request.reopen", request.id)),
    )
    return request


# --- hand-over -----------------------------------------------------------------------------------


async def handover_candidates(session: AsyncSession, actor: User, request_id: int, *, today: object) -> list[User]:
    """Social workers who could take the case: the community's own and those supporting it today."""
    request = await get_request(session, request_id)
    if not can_manage(actor, request):
        raise PermissionDenied(N_("Only the station's supervisor or a coordinator can hand a case over."))
    supporting = select(SupportAssignment.worker_id).where(
        SupportAssignment.community_id == request.community_id, SupportAssignment.starts_on <= today,
        SupportAssignment.ends_on >= today)
    stmt = (
        select(User)
        .join(SocialWorker, SocialWorker.user_id == User.id)
        .join(UserRole, (UserRole.user_id == User.id) & (UserRole.role == Role.SOCIAL_WORKER))
        .where(or_(SocialWorker.home_community_id == request.community_id, SocialWorker.user_id.in_(supporting)),
               User.id != (request.assigned_worker_id or 0))
        .order_by(SocialWorker.on_duty.desc(), User.id)
    )
    return list((await session.scalars(stmt)).all())


async def hand_over(session: AsyncSession, actor: User, request_id: int, to_user_id: int, *, now: datetime,
                    policy: CasePolicy) -> ServiceRequest:
    """Move an accepted or waiting case to another worker, who holds it at once; everyone concerned is told."""
    request = await get_request(session, request_id)
    if not can_manage(actor, request):
        raise PermissionDenied(N_("Only the station's supervisor or a coordinator can hand a case over."))
    if request.status not in (*cases.ACCEPTABLE, *HELD):
        raise InvalidState(N_("Request {number} is no longer open."), number=request.number)
    local_today = cases.routing.local_date(now, request.community.timezone)
    target = next((u for u in await handover_candidates(session, actor, request_id, today=local_today)
                   if u.id == to_user_id), None)
    if target is None:
        raise InvalidInput(NOT_A_CANDIDATE)
    previous_holder = await session.get(User, request.assigned_worker_id) if request.assigned_worker_id else None
    waiting = request.status in cases.ACCEPTABLE
    to_status = RequestStatus.ACCEPTED if waiting else request.status
    category = request.category
    values: dict[str, object] = {"assigned_worker_id": target.id}
    if waiting:
        values |= {"accepted_at": now, "resolve_by": now + timedelta(minutes=category.resolution_minutes),
                   "overdue_at": None}
    previous = await _change_status(session, request, (request.status,), to_status, now=now, **values)
    session.add(_event(request, EventKind.HANDED_OVER, actor, now, subject_id=target.id))
    if waiting:
        session.add(_event(request, EventKind.STATUS_CHANGED, actor, now, from_status=previous,
                           to_status=RequestStatus.ACCEPTED))
        await cases.end_other_offers(session, request, target, N_("Request {number} has been handed over to "
                                                                  "{name}; nothing more for you to do."), now=now)
        await cases.cancel_reminders(session, request.id, (cases.OFFER_TIMEOUT, cases.RESPONSE_DUE, cases.ESCALATE),
                                     now=now)
        assert request.resolve_by is not None
        cases.schedule(session, cases.RESOLUTION_DUE, request.resolve_by, now=now, request=request)
    else:
        # The supervisor or a coordinator has acted: an escalation under way need not go further.
        await cases.cancel_reminders(session, request.id, (cases.ESCALATE,), now=now)
    enqueue(session, Notice(target, N_("🔁 Request {number} has been handed over to you by {name}. It is yours now."),
                            {"number": request.number, "name": public_name(actor)},
                            (NoticeButton(N_("Open request"), "request.view", request.id),)), now=now)
    if previous_holder is not None and previous_holder.id != actor.id:
        enqueue(session, Notice(previous_holder, N_("🔁 Request {number} has been handed over to {name} by {by}."),
                                {"number": request.number, "name": public_name(target), "by": public_name(actor)}),
                now=now)
    await _tell_resident(session, request, N_("Your request {number} is now with social worker {name}.\n{station}"), target,
                         now=now)
    return request


# --- the resident closes, rates or reopens ------------------------------------------------------


async def _resident_case(session: AsyncSession, resident: User, request_id: int) -> ServiceRequest:
    request = await get_request(session, request_id)
    if request.resident_id != resident.id:
        raise PermissionDenied(N_("Only the person who filed a request can do this."))
    return request


async def rate(session: AsyncSession, resident: User, request_id: int, stars: int, comment: str | None, *,
               now: datetime) -> ServiceRequest:
    """Confirm a resolved case and rate the help (also after it closed by itself, once)."""
    request = await _resident_case(session, resident, request_id)
    if not 1 <= stars <= 5:
        raise InvalidInput(N_("Please choose from 1 to 5 stars."))
    words = (comment or "").strip() or None
    if words is not None and len(words) > COMMENT_MAX:
        raise InvalidInput(N_("Please keep the comment within {limit} characters."), limit=COMMENT_MAX)
    if request.rating is not None:
        raise InvalidState(N_("You have already rated request {number}. Thank you!"), number=request.number)
    if request.status is RequestStatus.RESOLVED:
        await _change_status(session, request, (RequestStatus.RESOLVED,), RequestStatus.CLOSED, now=now,
                             closed_at=now, rating=stars, rating_comment=words, rated_at=now)
        session.add(_event(request, EventKind.STATUS_CHANGED, resident, now, from_status=RequestStatus.RESOLVED,
                           to_status=RequestStatus.CLOSED, reason="confirmed"))
    elif request.status is RequestStatus.CLOSED and request.resolved_at is not None:
        await _change_status(session, request, (RequestStatus.CLOSED,), RequestStatus.CLOSED, now=now,
                             rating=stars, rating_comment=words, rated_at=now)
    else:
        raise InvalidState(N_("Request {number} can be rated once it is resolved."), number=request.number)
    session.add(_event(request, EventKind.RATED, resident, now, reason=str(stars), note=words))
    await cases.cancel_reminders(session, request.id, (AUTO_CLOSE, RATING_REMINDER), now=now)
    worker = await session.get(User, request.assigned_worker_id) if request.assigned_worker_id else None
    if worker is not None:
        enqueue(session, Notice(worker, N_("⭐ The resident rated request {number}: {stars} of 5.\n{comment}"),
                                {"number": request.number, "stars": stars, "comment": f"“{words}”" if words else ""},
                                (NoticeButton(N_("Open request"), "request.view", request.id),)), now=now)
    return request


async def reopen(session: AsyncSession, resident: User, request_id: int, reason: str | None, *, now: datetime,
                 policy: CasePolicy) -> ServiceRequest:
    """Not solved after all: back to the same worker, in progress, with the resident's reason."""
    request = await _resident_case(session, resident, request_id)
    if not can_reopen(request):
        raise InvalidState(N_("Request {number} can be reopened only while it is resolved and not yet closed. "
                              "Please send /new if you need help again."), number=request.number)
    words = _clean(reason, REASON_MAX, N_("Please say in a few words what is still not solved."),
                   N_("Please keep the reason within {limit} characters."))
    category = request.category
    await _change_status(session, request, (RequestStatus.RESOLVED,), RequestStatus.IN_PROGRESS, now=now,
                         resolved_at=None, resolve_by=now + timedelta(minutes=category.resolution_minutes))
    session.add(_event(request, EventKind.REOPENED, resident, now, note=words, from_status=RequestStatus.RESOLVED,
                       to_status=RequestStatus.IN_PROGRESS))
    await cases.cancel_reminders(session, request.id, (AUTO_CLOSE, RATING_REMINDER), now=now)
    assert request.resolve_by is not None
    cases.schedule(session, cases.RESOLUTION_DUE, request.resolve_by, now=now, request=request)
    worker = await session.get(User, request.assigned_worker_id) if request.assigned_worker_id else None
    if worker is not None:
        enqueue(session, Notice(worker, N_("↩️ The resident reopened request {number}:\n“{reason}”"),
                                {"number": request.number, "reason": words},
                                (NoticeButton(N_("Open request"), "request.view", request.id),)), now=now)
    return request


# --- reminders --------------------------------------------------------------------------------


async def rating_reminder(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: CasePolicy) -> None:
    """Once: a resolved, unrated case reminds the resident to confirm and rate."""
    request = await cases.lock_request(session, reminder.request_id or 0)
    if request is None or request.status is not RequestStatus.RESOLVED or request.rating is not None:
        return
    resident = await session.get(User, request.resident_id)
    if resident is None:
        return
    closes = (request.resolved_at or now) + timedelta(days=policy.auto_close_days)
    enqueue(session, Notice(
        resident, N_("How did it go? Your request {number} was resolved. Please confirm and rate the help; it closes "
                     "by itself in {days} days."),
        {"number": request.number, "days": max(1, (closes - now).days)},
        (NoticeButton(N_("⭐ Confirm and rate"), "request.rate", request.id),
         NoticeButton(N_("↩️ Not solved: reopen"), "request.reopen", request.id)),
    ), now=now)


async def auto_close(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: CasePolicy) -> None:
    """Not confirmed in time: the resolved case closes by itself (it may still be rated)."""
    request = await cases.lock_request(session, reminder.request_id or 0)
    if request is None or request.status is not RequestStatus.RESOLVED:
        return
    await _change_status(session, request, (RequestStatus.RESOLVED,), RequestStatus.CLOSED, now=now, closed_at=now)
    session.add(_event(request, EventKind.STATUS_CHANGED, None, now, from_status=RequestStatus.RESOLVED,
                       to_status=RequestStatus.CLOSED, reason="auto"))
    await cases.cancel_reminders(session, request.id, (RATING_REMINDER,), now=now)


HANDLERS = {RATING_REMINDER: rating_reminder, AUTO_CLOSE: auto_close}
