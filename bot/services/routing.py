"""Routing: which social worker a new request goes to, and why.

A *worker* is a user who holds the SOCIAL_WORKER role (a ``user_role`` row) and has a
``social_worker`` profile. Their *open cases* are the requests assigned to them
(``service_request.assigned_worker_id``) whose status is OFFERED, ACCEPTED or
IN_PROGRESS; they have *capacity left* while open cases < ``SocialWorker.capacity``.

For a request in community C and service category K the levels are, in order:

1. ``specialist`` — home community C, on duty, capacity left, K among their specialties;
2. ``community`` — home community C, on duty, capacity left (any specialty);
3. ``support`` — holds a support assignment for C that is current today
   (``starts_on <= today <= ends_on``, *today* being ``now`` as a date in C's time
   zone, ``Community.timezone``), on duty, capacity left;
4. ``supervisor`` — ``is_supervisor`` with home community C, whatever their duty and
   capacity (the last person at the station); on-duty supervisors first;
5. ``nobody`` — none of the above: the coordinators are alerted and the request waits
   in their queue.

Within a level: fewest open cases first, then the lowest user id, so the choice is
deterministic. ``exclude`` takes out workers who already declined or let an offer time
out, for re-routing; they are not chosen at any level.

The decision is one SQL statement whatever the number of workers: the candidates are
the workers of C and those supporting C today (a UNION); their open cases are counted in
a grouped subquery restricted to them; the level is ranked in SQL and only the first row comes back.
``route_request`` records the decision as a ROUTED event (``subject_id`` = the worker or
None, ``reason`` = the level) so that "why did this go to her?" has an answer.
Nothing here changes the request's status or assignment: offers come next.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Set
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, Select, and_, bindparam, case, exists, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.errors import N_
from bot.services.notices import Notice, NoticeButton, described, enqueue, localized
from bot.services.users import coordinators
from models import (
    ASSIGNED_OPEN,
    Community,
    EventKind,
    RequestAttachment,
    RequestEvent,
    Role,
    ServiceCategory,
    ServiceRequest,
    SocialWorker,
    SupportAssignment,
    UserRole,
    WorkerSpecialty,
)

log = logging.getLogger(__name__)


NO_WORKER = N_("⚠️ New request {number} in {community} has no social worker on duty there.\nService: {service}\n“{description}”")


class RouteLevel(enum.StrEnum):
    """Why a worker was chosen; stored as ``RequestEvent.reason``. Declared in order of preference."""

    SPECIALIST = "specialist"
    COMMUNITY = "community"
    SUPPORT = "support"
    SUPERVISOR = "supervisor"
    NOBODY = "nobody"


_RANK = {level: rank for rank, level in enumerate(RouteLevel, start=1)}
_BY_RANK = {rank: level for level, rank in _RANK.items()}


@dataclass(frozen=True)
class Choice:
    worker_id: int | None  # the chosen worker's user id; None at level ``nobody``
    level: RouteLevel
    open_cases: int | None  # the worker's open cases when chosen; None at level ``nobody``


def local_date(now: datetime, timezone: str) -> date:
    """``now`` as a calendar date where the community is."""
    return now.astimezone(ZoneInfo(timezone)).date()


def _choice_statement() -> Select[tuple[int, int, int]]:
    """The one query behind `choose_worker`, built once; its parameters are bound per call.

    Parameters: ``community_id``, ``category_id``, ``today`` (the community's local date)
    and ``exclude`` (user ids, possibly none).
    """
    community_id = bindparam("community_id", type_=Integer)
    today = bindparam("today", type_=Date)
    supporting = select(SupportAssignment.worker_id).where(
        SupportAssignment.community_id == community_id,
        SupportAssignment.starts_on <= today,
        SupportAssignment.ends_on >= today,
    )
    at_home = SocialWorker.home_community_id == community_id
    supports = SocialWorker.user_id.in_(supporting)
    # The candidates: workers of the community and those supporting it today. A UNION, not an OR,
    # so that the planner sees how few they are and counts cases by index for just them.
    candidate_ids = union(
        select(SocialWorker.user_id.label("user_id")).where(at_home), supporting
    ).cte("candidate_ids")
    # Their open cases, counted once per candidate (a grouped subquery, joined: never re-evaluated per use).
    open_counts = (
        select(ServiceRequest.assigned_worker_id.label("worker_id"), func.count().label("n"))
        .where(ServiceRequest.assigned_worker_id.in_(select(candidate_ids.c.user_id)),
               ServiceRequest.status.in_(ASSIGNED_OPEN))
        .group_by(ServiceRequest.assigned_worker_id)
        .subquery("open_counts")
    )
    specialist = exists().where(
        WorkerSpecialty.worker_id == SocialWorker.user_id,
        WorkerSpecialty.category_id == bindparam("category_id", type_=Integer),
    )
    open_cases = func.coalesce(open_counts.c.n, 0)
    cand = (
        select(
            SocialWorker.user_id.label("user_id"),
            SocialWorker.on_duty.label("on_duty"),
            SocialWorker.is_supervisor.label("is_supervisor"),
            at_home.label("at_home"),
            supports.label("supports"),
            specialist.label("specialist"),
            (open_cases < SocialWorker.capacity).label("has_room"),
            open_cases.label("open_cases"),
        )
        .join(candidate_ids, candidate_ids.c.user_id == SocialWorker.user_id)
        .join(UserRole, (UserRole.user_id == SocialWorker.user_id) & (UserRole.role == Role.SOCIAL_WORKER))
        .outerjoin(open_counts, open_counts.c.worker_id == SocialWorker.user_id)
        .where(SocialWorker.user_id.not_in(bindparam("exclude", expanding=True)))
        .subquery("candidate")
    ).c
    room = and_(cand.on_duty, cand.has_room)
    rank = case(
        (and_(cand.at_home, room, cand.specialist), _RANK[RouteLevel.SPECIALIST]),
        (and_(cand.at_home, room), _RANK[RouteLevel.COMMUNITY]),
        (and_(cand.supports, room), _RANK[RouteLevel.SUPPORT]),
        (and_(cand.at_home, cand.is_supervisor), _RANK[RouteLevel.SUPERVISOR]),
        else_=None,
    )
    ranked = select(cand.user_id, cand.open_cases, cand.on_duty, rank.label("rank")).subquery("ranked").c
    return (
        select(ranked.user_id, ranked.rank, ranked.open_cases)
        .where(ranked.rank.is_not(None))
        # On-duty first only matters among supervisors: every other level requires duty.
        .order_by(ranked.rank, ranked.on_duty.desc(), ranked.open_cases, ranked.user_id)
        .limit(1)
    )


_CHOICE = _choice_statement()


async def choose_worker(
    session: AsyncSession, request: ServiceRequest, *, exclude: Set[int] = frozenset(), now: datetime
) -> Choice:
    """The worker this request should go to (see the module's docstring); one query."""
    community = await session.get(Community, request.community_id)  # already loaded with the request
    if community is None:
        raise LookupError(f"community {request.community_id} of request {request.id} does not exist")
    params = {
        "community_id": community.id,
        "category_id": request.category_id,
        "today": local_date(now, community.timezone),
        "exclude": sorted(exclude),
    }
    row = (await session.execute(_CHOICE, params)).first()
    if row is None:
        return Choice(None, RouteLevel.NOBODY, None)
    return Choice(row.user_id, _BY_RANK[row.rank], row.open_cases)


async def route_request(
    session: AsyncSession, request: ServiceRequest, *, exclude: Set[int] = frozenset(), now: datetime
) -> Choice:
    """Choose a worker and record the choice on the request's timeline; with nobody, alert the coordinators.

    The request itself is left as it is (status and assignment change when the offer is made).
    """
    choice = await choose_worker(session, request, exclude=exclude, now=now)
    session.add(
        RequestEvent(
            request_id=request.id,
            kind=EventKind.ROUTED,
            subject_id=choice.worker_id,
            reason=choice.level.value,
            created_at=now,
        )
    )
    if choice.level is RouteLevel.NOBODY:
        await _alert_coordinators(session, request, now=now)
    return choice


async def notice_description(session: AsyncSession, request: ServiceRequest) -> dict[str, Any] | str:
    """The description as the notice shows it: the words, and the media filed with them."""
    filed_with = (
        await session.execute(
            select(RequestAttachment.kind, RequestAttachment.duration)
            .where(RequestAttachment.request_id == request.id, RequestAttachment.event_id.is_(None))
            .order_by(RequestAttachment.id)
        )
    ).all()
    return described(request.description, [(kind, duration) for kind, duration in filed_with])


async def _alert_coordinators(session: AsyncSession, request: ServiceRequest, *, now: datetime) -> None:
    staff = await coordinators(session)
    community = await session.get(Community, request.community_id)
    assert community is not None  # choose_worker has checked it
    if not staff:
        log.warning("request %s in community %s: nobody to route it to and no coordinator to tell",
                    request.number, request.community_id)
        return
    category = await session.get(ServiceCategory, request.category_id)  # loaded with the request
    assert category is not None
    params = {
        "number": request.number,
        "community": localized(community.name, community.name_en),
        "service": localized(category.name_zh, category.name_en),
        "description": await notice_description(session, request),
    }
    view = (NoticeButton(N_("Open request"), "request.view", request.id),)
    enqueue(session, *(Notice(c, NO_WORKER, params, view) for c in staff), now=now)
