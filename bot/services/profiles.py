"""Social worker profiles: duty, specialties, capacity, supervisors and support assignments.

A social worker edits their own duty and specialties; a coordinator sets support
assignments, capacity and supervisors. Routing (`bot.services.routing`) reads them.
Every function checks who is asking: the ids it is given may come from forged data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from bot.services.errors import N_, InvalidInput, NotFound, PermissionDenied
from models import (
    ASSIGNED_OPEN,
    AreaType,
    Community,
    Role,
    ServiceCategory,
    ServiceRequest,
    SocialWorker,
    SupportAssignment,
    User,
    UserRole,
    WorkerSpecialty,
)

NOT_OFFERED = N_("One of these services is not offered in your community. Please choose again.")
NOT_A_PERIOD = N_("Please choose one of the periods above.")
CAPACITY_MAX = 200
# A support assignment is for a season, not for ever: at most this many days.
SUPPORT_DAYS_MAX = 366


def _own_profile(user: User) -> SocialWorker:
    if not user.has_role(Role.SOCIAL_WORKER) or user.social_worker is None:
        raise PermissionDenied(N_("Only social workers have a duty status and specialties."))
    return user.social_worker


def _require_coordinator(user: User) -> None:
    if not user.has_role(Role.COORDINATOR):
        raise PermissionDenied(N_("Only a coordinator can change this."))


async def _worker(session: AsyncSession, worker_user_id: int) -> SocialWorker:
    worker = await session.get(SocialWorker, worker_user_id)
    holder = await session.get(User, worker_user_id) if worker is not None else None
    if worker is None or holder is None or not holder.has_role(Role.SOCIAL_WORKER):
        raise NotFound(N_("This social worker could not be found."))
    return worker


def set_duty(user: User, on_duty: bool) -> SocialWorker:
    """On duty: new requests may be offered to them. Off duty (leave, sick): none are."""
    profile = _own_profile(user)
    profile.on_duty = on_duty
    return profile


async def specialties_of(session: AsyncSession, user: User) -> set[int]:
    profile = _own_profile(user)
    rows = await session.scalars(select(WorkerSpecialty.category_id).where(WorkerSpecialty.worker_id == profile.user_id))
    return set(rows.all())


async def offered_categories(session: AsyncSession, user: User) -> list[ServiceCategory]:
    """The services a worker may choose as specialties: those offered in their community (all if none yet)."""
    profile = _own_profile(user)
    community = profile.home_community
    stmt = select(ServiceCategory).where(ServiceCategory.active.is_(True)).order_by(ServiceCategory.sort_order)
    categories = list((await session.scalars(stmt)).all())
    if community is None:
        return categories
    urban = community.area_type is AreaType.URBAN
    return [c for c in categories if (c.urban if urban else c.rural)]


async def set_specialties(session: AsyncSession, user: User, category_ids: Iterable[int]) -> set[int]:
    """Replace the worker's specialties; every id must be a service offered in their community."""
    profile = _own_profile(user)
    wanted = set(category_ids)
    allowed = {c.id for c in await offered_categories(session, user)}
    if not wanted <= allowed:
        raise InvalidInput(NOT_OFFERED)
    await session.execute(delete(WorkerSpecialty).where(WorkerSpecialty.worker_id == profile.user_id))
    session.add_all(WorkerSpecialty(worker_id=profile.user_id, category_id=cid) for cid in sorted(wanted))
    await session.flush()
    return wanted


async def set_capacity(session: AsyncSession, coordinator: User, worker_user_id: int, capacity: int) -> SocialWorker:
    _require_coordinator(coordinator)
    if not 1 <= capacity <= CAPACITY_MAX:
        raise InvalidInput(N_("Capacity is the number of open cases at most: from 1 to {limit}."), limit=CAPACITY_MAX)
    worker = await _worker(session, worker_user_id)
    worker.capacity = capacity
    return worker


async def set_supervisor(session: AsyncSession, coordinator: User, worker_user_id: int, supervisor: bool) -> SocialWorker:
    """The station's supervisor (督导): the last one a request falls to at their home community."""
    _require_coordinator(coordinator)
    worker = await _worker(session, worker_user_id)
    if supervisor and worker.home_community_id is None:
        raise InvalidInput(N_("A supervisor needs a home community first."))
    worker.is_supervisor = supervisor
    return worker


async def assign_support(
    session: AsyncSession,
    coordinator: User,
    worker_user_id: int,
    community_id: int,
    starts_on: date,
    ends_on: date,
    *,
    now: datetime,
) -> SupportAssignment:
    """A worker supports another community from one date to another, both included."""
    _require_coordinator(coordinator)
    worker = await _worker(session, worker_user_id)
    community = await session.get(Community, community_id)
    if community is None or not community.active:
        raise NotFound(N_("This community is no longer on the list. Please choose again."))
    if community.id == worker.home_community_id:
        raise InvalidInput(N_("This is already their home community."))
    if ends_on < starts_on:
        raise InvalidInput(N_("The last day comes before the first. Please choose the dates again."))
    if (ends_on - starts_on).days >= SUPPORT_DAYS_MAX:
        raise InvalidInput(N_("A support assignment lasts at most {days} days."), days=SUPPORT_DAYS_MAX)
    overlapping = await session.scalar(
        select(SupportAssignment.id).where(
            SupportAssignment.worker_id == worker.user_id,
            SupportAssignment.community_id == community.id,
            SupportAssignment.starts_on <= ends_on,
            SupportAssignment.ends_on >= starts_on,
        )
    )
    if overlapping is not None:
        raise InvalidInput(N_("They already support this community during these dates."))
    assignment = SupportAssignment(
        worker_id=worker.user_id,
        community_id=community.id,
        starts_on=starts_on,
        ends_on=ends_on,
        created_by_id=coordinator.id,
        created_at=now,
    )
    session.add(assignment)
    await session.flush()
    return assignment


async def end_support(
    session: AsyncSession, coordinator: User, assignment_id: int, *, worker_user_id: int, today: date
) -> SupportAssignment | None:
    """End an assignment today: yesterday becomes its last day, or it goes if it has not begun.

    Returns the assignment as it remains, or None when it was removed.
    """
    _require_coordinator(coordinator)
    assignment = await session.get(SupportAssignment, assignment_id)
    if assignment is None or assignment.worker_id != worker_user_id or assignment.ends_on < today:
        raise NotFound(N_("This support assignment could not be found."))
    last_day = today - timedelta(days=1)
    if last_day < assignment.starts_on:
        await session.delete(assignment)
        await session.flush()
        return None
    assignment.ends_on = last_day
    return assignment


@dataclass(frozen=True)
class WorkerCard:
    """What a coordinator sees of one social worker."""

    user: User
    profile: SocialWorker
    open_cases: int
    specialties: list[ServiceCategory]
    assignments: list[SupportAssignment]  # current and future, soonest first


async def list_workers(session: AsyncSession, coordinator: User) -> list[tuple[User, SocialWorker]]:
    """Every social worker, by home community then name."""
    _require_coordinator(coordinator)
    stmt = (
        select(User, SocialWorker)
        .join(SocialWorker, SocialWorker.user_id == User.id)
        .join(UserRole, (UserRole.user_id == User.id) & (UserRole.role == Role.SOCIAL_WORKER))
        .outerjoin(Community, Community.id == SocialWorker.home_community_id)
        .order_by(Community.name, User.real_name, User.first_name, User.id)
    )
    return [(user, worker) for user, worker in (await session.execute(stmt)).all()]


async def worker_card(session: AsyncSession, coordinator: User, worker_user_id: int, *, today: date) -> WorkerCard:
    _require_coordinator(coordinator)
    profile = await _worker(session, worker_user_id)
    user = await session.get(User, worker_user_id)
    open_cases = await session.scalar(
        select(func.count()).select_from(ServiceRequest).where(
            ServiceRequest.assigned_worker_id == worker_user_id,
            ServiceRequest.status.in_(ASSIGNED_OPEN),
        )
    ) or 0
    specialties = list((await session.scalars(
        select(ServiceCategory)
        .join(WorkerSpecialty, WorkerSpecialty.category_id == ServiceCategory.id)
        .where(WorkerSpecialty.worker_id == worker_user_id)
        .order_by(ServiceCategory.sort_order)
    )).all())
    assignments = list((await session.scalars(
        select(SupportAssignment)
        .options(joinedload(SupportAssignment.community))
        .where(SupportAssignment.worker_id == worker_user_id, SupportAssignment.ends_on >= today)
        .order_by(SupportAssignment.starts_on, SupportAssignment.id)
    )).all())
    return WorkerCard(user, profile, open_cases, specialties, assignments)
