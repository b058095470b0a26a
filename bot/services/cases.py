"""A case after filing: offers, acceptance, declining, deadlines and escalation.

No aiogram here. Every function works inside the caller's transaction and writes
its notices to the outbox in it, so nothing is told for work that rolled back.

* **Offers.** A new request is routed (`bot.services.routing`) and offered to the
  chosen worker: a `CaseOffer` row, an ``offer_timeout`` reminder and a notice with
  Accept / Decline. A decline (with a reason) or a timeout re-routes to the next
  candidate, leaving out everyone who declined or let an offer lapse. Urgent requests
  are offered to every on-duty worker of the community at once.
* **Acceptance** is a compare-and-set on the request: ``UPDATE … SET status='accepted'
  WHERE id=:id AND status IN ('new', 'offered')``. Of several workers pressing Accept
  together exactly one changes a row; the others are told who has the case. Anyone who
  was ever offered the case may try (a late press on a re-routed offer wins while nobody
  holds it).
* **Deadlines** are reminder rows: ``response_due`` at the receipt's promise
  (``respond_by``), ``resolution_due`` at ``resolve_by`` (set on acceptance). A missed
  deadline marks the case overdue, reminds whoever holds it and escalates to the
  station's supervisor; if the case has still not moved ``escalation_minutes`` later,
  the coordinators are told (``escalate``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from bot.services import routing
from bot.services.errors import N_, InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.notices import Notice, NoticeButton, enqueue, localized, phrases, station_line
from bot.services.risk import CATEGORY_LABELS
from bot.services.users import coordinators
from models import (
    CaseOffer,
    Community,
    DeclineReason,
    EventKind,
    OfferStatus,
    Reminder,
    ReminderStatus,
    RequestEvent,
    RequestStatus,
    Role,
    ServiceCategory,
    ServiceRequest,
    SocialWorker,
    Urgency,
    User,
    UserRole,
)

log = logging.getLogger(__name__)

DECLINE_NOTE_MAX = 300

# Reminder kinds of a case (`Reminder.kind`), each handled by the function of the same name below.
OFFER_TIMEOUT = "offer_timeout"
RESPONSE_DUE = "response_due"
RESOLUTION_DUE = "resolution_due"
ESCALATE = "escalate"

# Statuses from which a case can still be accepted: waiting for someone, or offered.
ACCEPTABLE = (RequestStatus.NEW, RequestStatus.OFFERED)
HELD = (RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS)

# A person loaded only to be told something: their roles and staff profile (two more statements) stay unread.
_PERSON_ONLY = (raiseload(User.role_rows), raiseload(User.social_worker))


@dataclass(frozen=True)
class CasePolicy:
    """The operator's settings for running cases (see `bot.config.Settings`)."""

    # After a missed deadline the supervisor is told; if the case has not moved this much later, the coordinators.
    escalation_minutes: int = 120
    # A resolved case the resident has not confirmed closes by itself after this many days (and may be
    # reopened until then); one reminder to rate goes out after `rating_reminder_days`.
    auto_close_days: int = 7
    rating_reminder_days: int = 3


@dataclass(frozen=True)
class Accepted:
    request: ServiceRequest
    already: bool  # True when this worker had accepted it before (a double press)


class CaseTaken(InvalidState):
    """Another worker accepted the case first."""


# --- helpers -----------------------------------------------------------------------------


def public_name(user: User) -> str:
    """How a worker is named to residents and colleagues: the name they work under."""
    return user.real_name or user.display_name


def schedule(
    session: AsyncSession, kind: str, due_at: datetime, *, now: datetime, request: ServiceRequest | None = None,
    user_id: int | None = None, payload: dict[str, Any] | None = None,
) -> Reminder:
    reminder = Reminder(
        kind=kind, due_at=due_at, request_id=request.id if request is not None else None, user_id=user_id,
        payload=payload or {}, created_at=now,
    )
    session.add(reminder)
    return reminder


async def cancel_reminders(
    session: AsyncSession, request_id: int, kinds: Iterable[str], *, now: datetime, user_id: int | None = None
) -> None:
    """Pending reminders of these kinds for the request (for one user, if given) will never fire.

    A reminder the sweeper is firing at this very moment is skipped rather than waited for
    (SKIP LOCKED on PostgreSQL): its handler locks the request next, finds it changed and
    does nothing, and waiting here for it while holding the request would deadlock.
    """
    pending = select(Reminder.id).where(Reminder.request_id == request_id, Reminder.kind.in_(list(kinds)),
                                        Reminder.status == ReminderStatus.PENDING)
    if user_id is not None:
        pending = pending.where(Reminder.user_id == user_id)
    if session.get_bind().dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    await session.execute(
        update(Reminder)
        .where(Reminder.id.in_(pending), Reminder.status == ReminderStatus.PENDING)
        .values(status=ReminderStatus.CANCELLED, done_at=now)
        .execution_options(synchronize_session=False)
    )


def _event(request: ServiceRequest, kind: EventKind, *, now: datetime, actor: User | None = None,
           subject_id: int | None = None, reason: str | None = None, note: str | None = None,
           from_status: RequestStatus | None = None, to_status: RequestStatus | None = None) -> RequestEvent:
    return RequestEvent(
        request_id=request.id, actor_id=actor.id if actor is not None else None, kind=kind, subject_id=subject_id,
        reason=reason, note=note, from_status=from_status, to_status=to_status, created_at=now,
    )


async def lock_request(session: AsyncSession, request_id: int) -> ServiceRequest | None:
    """The request as committed now, its row locked until the transaction ends (PostgreSQL).

    Every path that changes a case reads it this way first, so two of them (an Accept and
    a Decline, a Cancel and an offer timeout) run one after the other on fresh data, never
    on a copy read before the other committed. SQLite needs no row lock: every
    transaction there takes the database's write lock first (BEGIN IMMEDIATE).
    """
    return await session.scalar(
        select(ServiceRequest).where(ServiceRequest.id == request_id).with_for_update(of=ServiceRequest)
        .execution_options(populate_existing=True)
    )


async def _request(session: AsyncSession, request_id: int) -> ServiceRequest:
    request = await lock_request(session, request_id)
    if request is None:
        raise NotFound(N_("This request could not be found."))
    return request


def _summary(request: ServiceRequest) -> dict[str, Any]:
    """What every notice about a case names: its number, community and service."""
    community: Community = request.community
    category: ServiceCategory = request.category
    return {
        "number": request.number,
        "community": localized(community.name, community.name_en),
        "service": localized(category.name_zh, category.name_en),
    }


def _open_button(request: ServiceRequest) -> NoticeButton:
    return NoticeButton(N_("Open request"), "request.view", request.id)


def _offer_buttons(request: ServiceRequest) -> tuple[NoticeButton, ...]:
    return (
        NoticeButton(N_("✅ Accept"), "case.accept", request.id),
        NoticeButton(N_("↩️ Decline"), "case.decline", request.id),
        _open_button(request),
    )


async def supervisors(session: AsyncSession, community_id: int) -> list[User]:
    """The station's supervisors: social workers of the community with the supervisor flag, on duty first."""
    stmt = (
        select(User)
        .join(SocialWorker, SocialWorker.user_id == User.id)
        .join(UserRole, (UserRole.user_id == User.id) & (UserRole.role == Role.SOCIAL_WORKER))
        .where(SocialWorker.home_community_id == community_id, SocialWorker.is_supervisor.is_(True))
        .order_by(SocialWorker.on_duty.desc(), User.id)
    )
    return list((await session.scalars(stmt)).all())


async def on_duty_workers(session: AsyncSession, community_id: int) -> list[User]:
    stmt = (
        select(User)
        .join(SocialWorker, SocialWorker.user_id == User.id)
        .join(UserRole, (UserRole.user_id == User.id) & (UserRole.role == Role.SOCIAL_WORKER))
        .where(SocialWorker.home_community_id == community_id, SocialWorker.on_duty.is_(True))
        .order_by(User.id)
    )
    return list((await session.scalars(stmt)).all())


async def _offers(session: AsyncSession, request_id: int, *statuses: OfferStatus) -> list[CaseOffer]:
    stmt = select(CaseOffer).where(CaseOffer.request_id == request_id).order_by(CaseOffer.id)
    if statuses:
        stmt = stmt.where(CaseOffer.status.in_(statuses))
    return list((await session.scalars(stmt)).all())


async def was_offered(session: AsyncSession, user: User, request_id: int) -> bool:
    """Whether the case was offered to this person and they did not decline it (they may open it and accept).

    A worker who declined (a conflict of interest, say) no longer sees the case; one whose
    offer lapsed or was taken by a colleague still does.
    """
    found = await session.scalar(
        select(CaseOffer.id).where(CaseOffer.request_id == request_id, CaseOffer.worker_id == user.id,
                                   CaseOffer.status != OfferStatus.DECLINED).limit(1)
    )
    return found is not None


# --- offering ------------------------------------------------------------------------------


async def start(session: AsyncSession, request: ServiceRequest, *, now: datetime) -> None:
    """A request was just filed: its response deadline, then its first offer(s)."""
    if request.respond_by is not None:
        schedule(session, RESPONSE_DUE, request.respond_by, now=now, request=request)
    if request.urgency is Urgency.URGENT:
        await offer_to_everyone(session, request, now=now)
    else:
        await route_and_offer(session, request, now=now)


async def route_and_offer(session: AsyncSession, request: ServiceRequest, *, now: datetime) -> routing.Choice:
    """Offer the case to the next worker routing chooses, leaving out whoever already said no or let it lapse.

    With nobody left, the request waits (status new, unassigned) and routing has alerted the coordinators.
    """
    if request.status not in ACCEPTABLE:
        raise InvalidState(N_("Request {number} is no longer waiting to be accepted."), number=request.number)
    # Nobody is asked twice: not who said no or let it lapse, nor who holds an open offer of it already.
    asked = {
        offer.worker_id
        for offer in await _offers(session, request.id, OfferStatus.DECLINED, OfferStatus.EXPIRED,
                                   OfferStatus.PENDING)
    }
    choice = await routing.route_request(session, request, exclude=asked, now=now)
    if choice.worker_id is None:
        if request.status is not RequestStatus.NEW:
            session.add(_event(request, EventKind.STATUS_CHANGED, now=now, from_status=request.status,
                               to_status=RequestStatus.NEW))
        request.status = RequestStatus.NEW
        request.assigned_worker_id = None
        request.updated_at = now
        request.version += 1
        return choice
    # The offer needs only who they are and their chat, not their roles or staff profile.
    worker = await session.get(User, choice.worker_id, options=_PERSON_ONLY)
    assert worker is not None  # routing returned a worker's id
    await _offer(session, request, worker, reason=choice.level.value, now=now)
    return choice


async def offer_to_everyone(session: AsyncSession, request: ServiceRequest, *, now: datetime) -> None:
    """An urgent request: offered to every on-duty worker of the community at once (the first to accept has it).

    With nobody on duty there it is routed as usual (support, supervisor, coordinators).
    """
    workers = await on_duty_workers(session, request.community_id)
    if not workers:
        await route_and_offer(session, request, now=now)
        return
    for worker in workers:
        await _offer(session, request, worker, reason="urgent", now=now, assign=False)


async def _offer(
    session: AsyncSession, request: ServiceRequest, worker: User, *, reason: str, now: datetime, assign: bool = True,
    timeout: bool = True,
) -> CaseOffer:
    category: ServiceCategory = request.category
    offer = CaseOffer(
        request_id=request.id, worker_id=worker.id, reason=reason, status=OfferStatus.PENDING, created_at=now,
        expires_at=now + timedelta(minutes=category.offer_minutes),
    )
    session.add(offer)
    await session.flush()
    if request.status is RequestStatus.NEW:
        session.add(_event(request, EventKind.STATUS_CHANGED, now=now, from_status=RequestStatus.NEW,
                           to_status=RequestStatus.OFFERED))
    request.status = RequestStatus.OFFERED
    if assign:
        request.assigned_worker_id = worker.id  # counts against their capacity while the offer is open
    request.updated_at = now
    request.version += 1
    session.add(_event(request, EventKind.OFFERED, now=now, subject_id=worker.id, reason=reason))
    if timeout:
        schedule(session, OFFER_TIMEOUT, offer.expires_at, now=now, request=request, user_id=worker.id,
                 payload={"offer_id": offer.id})
    params = {**_summary(request), "minutes": category.offer_minutes,
              "description": await routing.notice_description(session, request)}
    template = (
        N_("🚨 Urgent request {number} in {community}, offered to every social worker on duty: the first to accept "
           "has it.\nService: {service}\n“{description}”")
        if request.urgency is Urgency.URGENT
        else N_("📋 Request {number} in {community} is offered to you.\nService: {service}\n“{description}”\n"
                "Please accept or decline within {minutes} minutes.")
    )
    enqueue(session, Notice(worker, template, params, _offer_buttons(request)), now=now)
    return offer


# --- answering an offer ----------------------------------------------------------------------


def _require_worker(user: User) -> None:
    if not user.has_role(Role.SOCIAL_WORKER):
        raise PermissionDenied(N_("Only social workers can take on cases."))


async def accept(session: AsyncSession, worker: User, request_id: int, *, now: datetime) -> Accepted:
    """Take the case: a compare-and-set, so that of several workers exactly one wins.

    Raises `CaseTaken` (naming who has it) when someone else was first, `InvalidState`
    when the resident cancelled it, `PermissionDenied` when it was never offered to this worker.
    """
    _require_worker(worker)
    request = await _request(session, request_id)
    mine = list((await session.scalars(
        select(CaseOffer).where(CaseOffer.request_id == request.id, CaseOffer.worker_id == worker.id)
        .order_by(CaseOffer.id.desc())
    )).all())
    if not mine:
        raise PermissionDenied(N_("Request {number} was not offered to you."), number=request.number)
    if all(o.status is OfferStatus.DECLINED for o in mine):
        raise PermissionDenied(N_("You declined request {number}; it has gone to someone else."),
                               number=request.number)
    offer = next(o for o in mine if o.status is not OfferStatus.DECLINED)
    previous = request.status
    category: ServiceCategory = request.category
    won = await session.execute(
        update(ServiceRequest)
        .where(ServiceRequest.id == request.id, ServiceRequest.status.in_(ACCEPTABLE))
        .values(status=RequestStatus.ACCEPTED, assigned_worker_id=worker.id, accepted_at=now,
                resolve_by=now + timedelta(minutes=category.resolution_minutes), overdue_at=None,
                updated_at=now, version=ServiceRequest.version + 1)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(request)
    if won.rowcount != 1:
        if request.assigned_worker_id == worker.id and request.status in HELD:
            return Accepted(request, already=True)
        if request.status in HELD and request.assigned_worker_id is not None:
            holder = await session.get(User, request.assigned_worker_id)
            raise CaseTaken(N_("Request {number} has already been accepted by {name}."),
                            number=request.number, name=public_name(holder) if holder else "—")
        raise InvalidState(N_("Request {number} is no longer waiting to be accepted."), number=request.number)
    offer.status = OfferStatus.ACCEPTED
    offer.answered_at = now
    session.add(_event(request, EventKind.STATUS_CHANGED, now=now, actor=worker, from_status=previous,
                       to_status=RequestStatus.ACCEPTED))
    await end_other_offers(session, request, worker, N_("Request {number} has been accepted by {name}; nothing "
                                                        "more for you to do."), now=now)
    await cancel_reminders(session, request.id, (OFFER_TIMEOUT, RESPONSE_DUE, ESCALATE), now=now)
    assert request.resolve_by is not None
    schedule(session, RESOLUTION_DUE, request.resolve_by, now=now, request=request)
    await _tell_resident(session, request, N_("✅ Your request {number} has been accepted by social worker {name}. "
                                              "They will contact you soon.\n{station}"), worker, now=now)
    return Accepted(request, already=False)


async def end_other_offers(session: AsyncSession, request: ServiceRequest, holder: User, template: str, *,
                           now: datetime) -> None:
    """Someone holds the case now: every other open offer ends, and whoever had one is told by `template`
    ({number}, {name} of the holder). The holder's own other offers (an escalation) end as accepted."""
    for offer in await _offers(session, request.id, OfferStatus.PENDING):
        offer.answered_at = now
        if offer.worker_id == holder.id:
            offer.status = OfferStatus.ACCEPTED
            continue
        offer.status = OfferStatus.WITHDRAWN
        session.add(_event(request, EventKind.OFFER_WITHDRAWN, now=now, subject_id=offer.worker_id))
        colleague = await session.get(User, offer.worker_id)
        if colleague is not None:
            enqueue(session, Notice(colleague, template, {"number": request.number, "name": public_name(holder)}),
                    now=now)


async def _tell_resident(session: AsyncSession, request: ServiceRequest, template: str, worker: User | None, *,
                         now: datetime) -> None:
    """A status notice to the resident, with the worker's name and, when set, the station's phone number.

    Templates end with ``{station}``: the station's phone line, or nothing.
    """
    resident = await session.get(User, request.resident_id)
    if resident is None:
        return
    community: Community = request.community
    params: dict[str, Any] = {"number": request.number, "name": public_name(worker) if worker else "",
                              "station": station_line(community.station_phone)}
    enqueue(session, Notice(resident, template, params, (_open_button(request),)), now=now)


def clean_decline_note(text: str | None, reason: DeclineReason) -> str | None:
    note = " ".join((text or "").split()) or None
    if reason is DeclineReason.OTHER and note is None:
        raise InvalidInput(N_("Please say in a few words why you decline."))
    if note is not None and len(note) > DECLINE_NOTE_MAX:
        raise InvalidInput(N_("Please keep the reason within {limit} characters."), limit=DECLINE_NOTE_MAX)
    return note


async def pending_offer(session: AsyncSession, worker: User, request_id: int) -> tuple[ServiceRequest, CaseOffer]:
    """The worker's open offer of this case, or why there is none (taken, cancelled, answered, never offered)."""
    _require_worker(worker)
    request = await _request(session, request_id)
    offer = (await session.scalars(
        select(CaseOffer).where(CaseOffer.request_id == request.id, CaseOffer.worker_id == worker.id,
                                CaseOffer.status == OfferStatus.PENDING).order_by(CaseOffer.id)
    )).first()
    if offer is not None and request.status in ACCEPTABLE:
        return request, offer
    if not await was_offered(session, worker, request.id):
        raise PermissionDenied(N_("Request {number} was not offered to you."), number=request.number)
    if request.status in HELD and request.assigned_worker_id is not None:
        holder = await session.get(User, request.assigned_worker_id)
        if holder is not None and holder.id == worker.id:
            raise InvalidState(N_("You have accepted request {number}; to pass it on, use hand-over."),
                               number=request.number)
        raise CaseTaken(N_("Request {number} has already been accepted by {name}."),
                        number=request.number, name=public_name(holder) if holder else "—")
    if request.status not in ACCEPTABLE:
        raise InvalidState(N_("Request {number} is no longer waiting to be accepted."), number=request.number)
    raise InvalidState(N_("Your offer of request {number} has ended: it was passed on to someone else."),
                       number=request.number)


async def decline(
    session: AsyncSession, worker: User, request_id: int, reason: DeclineReason, note: str | None, *, now: datetime
) -> ServiceRequest:
    """Say no to an offer, with a reason; the case goes to the next candidate."""
    note = clean_decline_note(note, reason)
    request, _offer = await pending_offer(session, worker, request_id)
    # All of their open offers of this case end (a routed one and a supervisor's escalation, say).
    for offer in await _offers(session, request.id, OfferStatus.PENDING):
        if offer.worker_id != worker.id:
            continue
        offer.status = OfferStatus.DECLINED
        offer.decline_reason = reason
        offer.decline_note = note
        offer.answered_at = now
    session.add(_event(request, EventKind.DECLINED, now=now, actor=worker, reason=reason.value, note=note))
    await _offer_ended(session, request, worker.id, now=now)
    return request


async def _offer_ended(session: AsyncSession, request: ServiceRequest, worker_id: int, *, now: datetime) -> None:
    """One worker's offer ended without acceptance: re-route unless other offers are still open."""
    if request.status not in ACCEPTABLE:
        return  # accepted, handed over or cancelled meanwhile: nothing to pass on
    if request.assigned_worker_id == worker_id:
        request.assigned_worker_id = None
    await cancel_reminders_for_offer(session, request.id, worker_id, now=now)
    # Others of an urgent fan-out may still accept; a supervisor's escalation offer runs beside the chain.
    if [o for o in await _offers(session, request.id, OfferStatus.PENDING) if o.reason != "escalated"]:
        return
    await route_and_offer(session, request, now=now)


async def cancel_reminders_for_offer(session: AsyncSession, request_id: int, worker_id: int, *, now: datetime) -> None:
    await cancel_reminders(session, request_id, (OFFER_TIMEOUT,), now=now, user_id=worker_id)


async def withdraw_offers(session: AsyncSession, request: ServiceRequest, *, now: datetime) -> list[int]:
    """The request was cancelled: open offers end and the case's reminders will not fire. Returns who had an offer."""
    withdrawn = []
    for offer in await _offers(session, request.id, OfferStatus.PENDING):
        offer.status = OfferStatus.WITHDRAWN
        offer.answered_at = now
        withdrawn.append(offer.worker_id)
    await cancel_reminders(session, request.id, (OFFER_TIMEOUT, RESPONSE_DUE, RESOLUTION_DUE, ESCALATE), now=now)
    return withdrawn


# --- reminders: what happens when time passes -------------------------------------------------


async def offer_timeout(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: CasePolicy) -> None:
    """No answer in time: the offer lapses and the case goes to the next candidate."""
    if reminder.request_id is None or await lock_request(session, reminder.request_id) is None:
        return
    offer = await session.get(CaseOffer, int(reminder.payload.get("offer_id", 0)), populate_existing=True)
    if offer is None or offer.status is not OfferStatus.PENDING:
        return  # answered, withdrawn or gone meanwhile
    request = await _request(session, offer.request_id)
    if request.status not in ACCEPTABLE:
        return
    offer.status = OfferStatus.EXPIRED
    offer.answered_at = now
    session.add(_event(request, EventKind.OFFER_EXPIRED, now=now, subject_id=offer.worker_id))
    worker = await session.get(User, offer.worker_id)
    if worker is not None:
        enqueue(session, Notice(worker, N_("⌛ Request {number} was not answered in time and is being offered to "
                                           "someone else. You can still accept it while nobody has."),
                                {"number": request.number}, (_offer_buttons(request)[0], _open_button(request))),
                now=now)
    await _offer_ended(session, request, offer.worker_id, now=now)


async def response_due(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: CasePolicy) -> None:
    """The receipt's promise has passed and nobody has accepted: overdue, supervisor told and offered the case."""
    request = await _request(session, int(reminder.request_id or 0))
    if request.status not in ACCEPTABLE:
        return
    request.overdue_at = request.overdue_at or now
    session.add(_event(request, EventKind.OVERDUE, now=now, reason="response"))
    for offer in await _offers(session, request.id, OfferStatus.PENDING):  # whoever holds an offer is reminded
        holder = await session.get(User, offer.worker_id)
        if holder is not None:
            enqueue(session, Notice(holder, N_("⏰ Request {number} is overdue: the resident was promised an answer "
                                               "by now. Please accept or decline it."),
                                    {"number": request.number}, _offer_buttons(request)), now=now)
    await _escalate_to_supervisor(session, request, "response", now=now, policy=policy)


async def resolution_due(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: CasePolicy) -> None:
    """The case should have been resolved by now: overdue, its worker reminded, the supervisor told."""
    request = await _request(session, int(reminder.request_id or 0))
    if request.status not in HELD:
        return
    request.overdue_at = request.overdue_at or now
    session.add(_event(request, EventKind.OVERDUE, now=now, reason="resolution"))
    worker = await session.get(User, request.assigned_worker_id) if request.assigned_worker_id else None
    if worker is not None:
        enqueue(session, Notice(worker, N_("⏰ Request {number} is overdue: it should have been resolved by now. "
                                           "Please resolve it or ask your supervisor to hand it over."),
                                {"number": request.number}, (_open_button(request),)), now=now)
    await _escalate_to_supervisor(session, request, "resolution", now=now, policy=policy)


async def _escalate_to_supervisor(
    session: AsyncSession, request: ServiceRequest, deadline: str, *, now: datetime, policy: CasePolicy
) -> None:
    bosses = [s for s in await supervisors(session, request.community_id) if s.id != request.assigned_worker_id]
    if not bosses:
        await _escalate_to_coordinators(session, request, deadline, now=now)
        return
    supervisor = bosses[0]
    session.add(_event(request, EventKind.ESCALATED, now=now, subject_id=supervisor.id, reason=deadline))
    hours = policy.escalation_minutes / 60
    params = {**_summary(request), "hours": int(hours) if hours.is_integer() else round(hours, 1)}
    if deadline == "response":
        template = N_("⚠️ Request {number} in {community} has not been accepted in time.\nService: {service}\n"
                      "As the supervisor you can accept it yourself; if nobody has in {hours} h, the coordinators "
                      "are told.")
        # The supervisor may take it: an offer without its own timeout (the escalation below covers it).
        if not any(o.worker_id == supervisor.id for o in await _offers(session, request.id, OfferStatus.PENDING)):
            offer = CaseOffer(request_id=request.id, worker_id=supervisor.id, reason="escalated",
                              status=OfferStatus.PENDING, created_at=now,
                              expires_at=now + timedelta(minutes=policy.escalation_minutes))
            session.add(offer)
        buttons: tuple[NoticeButton, ...] = (_offer_buttons(request)[0], _open_button(request))
    else:
        holder = await session.get(User, request.assigned_worker_id) if request.assigned_worker_id else None
        params["name"] = public_name(holder) if holder else "—"
        template = N_("⚠️ Request {number} in {community}, held by {name}, has not been resolved in time.\n"
                      "Service: {service}\nIf it is still open in {hours} h, the coordinators are told.")
        buttons = (_open_button(request),)
    enqueue(session, Notice(supervisor, template, params, buttons), now=now)
    schedule(session, ESCALATE, now + timedelta(minutes=policy.escalation_minutes), now=now, request=request,
             payload={"deadline": deadline})


async def escalate(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: CasePolicy) -> None:
    """The supervisor was told and the case has still not moved: the coordinators are told."""
    request = await _request(session, int(reminder.request_id or 0))
    deadline = str(reminder.payload.get("deadline", "response"))
    if deadline == "response" and request.status not in ACCEPTABLE:
        return
    if deadline == "resolution" and request.status not in HELD:
        return
    for offer in await _offers(session, request.id, OfferStatus.PENDING):
        if offer.reason == "escalated":
            offer.status = OfferStatus.EXPIRED
    await _escalate_to_coordinators(session, request, deadline, now=now)


async def _escalate_to_coordinators(session: AsyncSession, request: ServiceRequest, deadline: str, *,
                                    now: datetime) -> None:
    session.add(_event(request, EventKind.ESCALATED, now=now, reason=deadline))
    staff = await coordinators(session)
    if not staff:
        log.warning("request %s is overdue (%s) and there is no coordinator to tell", request.number, deadline)
        return
    template = (
        N_("🔺 Request {number} in {community} is overdue: nobody has accepted it.\nService: {service}")
        if deadline == "response"
        else N_("🔺 Request {number} in {community} is overdue: it has not been resolved.\nService: {service}")
    )
    enqueue(session, *(Notice(c, template, _summary(request), (_open_button(request),)) for c in staff), now=now)


async def alert_crisis(session: AsyncSession, request: ServiceRequest, risks: Iterable[str], *, now: datetime) -> None:
    """Crisis words in a new request: the station's supervisors are alerted at once (else the coordinators)."""
    bosses = await supervisors(session, request.community_id)
    recipients = bosses or await coordinators(session)
    labels = [CATEGORY_LABELS.get(risk, risk) for risk in risks]
    params = {**_summary(request), "risks": phrases(*labels)}
    template = N_("🆘 Request {number} in {community} may be a crisis ({risks}). It has been offered to every social "
                  "worker on duty there; please make sure someone acts now.\nService: {service}")
    enqueue(session, *(Notice(r, template, params, (_open_button(request),)) for r in recipients), now=now)
    for boss in bosses:
        session.add(_event(request, EventKind.ESCALATED, now=now, subject_id=boss.id, reason="crisis"))
    if not bosses:
        session.add(_event(request, EventKind.ESCALATED, now=now, reason="crisis"))


ReminderHandler = Callable[..., Awaitable[None]]

# What each reminder kind of a case does when it falls due (see bot/scheduler.py).
HANDLERS: dict[str, ReminderHandler] = {
    OFFER_TIMEOUT: offer_timeout,
    RESPONSE_DUE: response_due,
    RESOLUTION_DUE: resolution_due,
    ESCALATE: escalate,
}
