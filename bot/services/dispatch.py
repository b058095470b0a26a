"""Which volunteers to offer a task to, best first.

Hard rules are SQL filters, so the database narrows a community's volunteers with its
indexes before anything is ranked in Python:

- approved (not pending, rejected or suspended) and still reachable (never blocked the bot);
- not already offered this task;
- no accepted place in another open task whose time overlaps this one;
- a weekly availability window on the task's weekday that covers its local start and end;
- every skill the task requires.

The candidates come in tiers: the task's own community first, then the other
communities of its street or township (街道/乡镇); volunteers further away are not
offered a task. Within a tier SQL hands over at most `CANDIDATE_LIMIT` volunteers,
those offered longest ago first (`volunteer.last_offered_at`, indexed with the
community and status), so offers rotate and a big pool costs no more than a small one.

Python then orders the candidates by the soft rules, in this order:

1. same community before the rest of the street;
2. distance in 2-km bands when the task and the volunteer both have a location (a
   volunteer without one counts as in the band of 4–6 km);
3. fewer hours served in the last 30 days (whole hours), to share the work;
4. reliability: (kept + 1) / (accepted + 2) over the last year's ended tasks, where an
   accepted place that was later withdrawn counts as not kept;
5. offered longest ago, then the volunteer's id (stable).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    AssignmentStatus,
    Community,
    TaskAssignment,
    TaskStatus,
    User,
    Volunteer,
    VolunteerAvailability,
    VolunteerStatus,
    VolunteerTask,
)

CANDIDATE_LIMIT = 60  # per tier; a wave is at most twice the open places
DISTANCE_BAND_KM = 2.0
UNKNOWN_DISTANCE_BAND = 2  # 4–6 km
RECENT_DAYS = 30
HISTORY_DAYS = 365


@dataclass(frozen=True)
class Candidate:
    volunteer_id: int
    name: str
    community_id: int
    same_community: bool
    distance_km: float | None
    recent_minutes: int
    accepted: int  # accepted places in ended tasks (the last year)
    kept: int  # of those, not withdrawn
    last_offered_at: datetime

    @property
    def reliability(self) -> float:
        return (self.kept + 1) / (self.accepted + 2)

    @property
    def distance_band(self) -> int:
        if self.distance_km is None:
            return UNKNOWN_DISTANCE_BAND
        return int(self.distance_km // DISTANCE_BAND_KM)

    def sort_key(self) -> tuple[object, ...]:
        return (not self.same_community, self.distance_band, self.recent_minutes // 60, -self.reliability,
                self.last_offered_at, self.volunteer_id)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance; plenty for "how far across town"."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


def local_window(task: VolunteerTask) -> tuple[int, object, object]:
    """The task's weekday and local start and end times in its community's time zone."""
    tz = ZoneInfo(task.community.timezone)
    start, end = task.starts_at.astimezone(tz), task.ends_at.astimezone(tz)
    return start.weekday(), start.time().replace(tzinfo=None), end.time().replace(tzinfo=None)


def overlapping_place(volunteer_id: object, starts_at: datetime, ends_at: datetime,
                      *, other_than: int | None = None) -> object:
    """SQL: the volunteer holds an accepted place in an open task overlapping [starts_at, ends_at)."""
    other = VolunteerTask.__table__.alias("other_task")
    mine = TaskAssignment.__table__.alias("other_assignment")
    conditions = [
        mine.c.volunteer_id == volunteer_id,
        mine.c.status == AssignmentStatus.ACCEPTED.value,
        other.c.status == TaskStatus.OPEN.value,
        other.c.starts_at < ends_at,
        other.c.ends_at > starts_at,
    ]
    if other_than is not None:
        conditions.append(other.c.id != other_than)
    return exists(select(1).select_from(mine.join(other, other.c.id == mine.c.task_id)).where(and_(*conditions)))


def _eligible(task: VolunteerTask, exclude: Collection[int]) -> object:
    """The hard rules as one SELECT of volunteers (ordered and limited by the caller)."""
    weekday, start, end = local_window(task)
    available = exists(select(1).where(
        VolunteerAvailability.volunteer_id == Volunteer.user_id,
        VolunteerAvailability.weekday == weekday,
        VolunteerAvailability.starts_at <= start,
        VolunteerAvailability.ends_at >= end,
    ))
    already = exists(select(1).where(TaskAssignment.task_id == task.id,
                                     TaskAssignment.volunteer_id == Volunteer.user_id))
    stmt = (
        select(Volunteer)
        .join(User, User.id == Volunteer.user_id)
        .where(Volunteer.status == VolunteerStatus.APPROVED, User.blocked_bot_at.is_(None), available, ~already,
               ~overlapping_place(Volunteer.user_id, task.starts_at, task.ends_at, other_than=task.id))
    )
    for code in task.skills:
        # Skills are a JSON list of codes: '"first_aid"' occurs in its text exactly when the code is there.
        stmt = stmt.where(cast(Volunteer.skills, String).contains(f'"{code}"', autoescape=True))
    if exclude:
        stmt = stmt.where(Volunteer.user_id.not_in(list(exclude)))
    return stmt


async def _history(session: AsyncSession, ids: list[int], now: datetime) -> dict[int, list[tuple[datetime, datetime,
                                                                                                 AssignmentStatus]]]:
    """Each candidate's places (kept, or withdrawn) in tasks of the last year that have ended."""
    rows = (await session.execute(
        select(TaskAssignment.volunteer_id, VolunteerTask.starts_at, VolunteerTask.ends_at, TaskAssignment.status)
        .join(VolunteerTask, VolunteerTask.id == TaskAssignment.task_id)
        .where(TaskAssignment.volunteer_id.in_(ids),
               TaskAssignment.status.in_((AssignmentStatus.ACCEPTED, AssignmentStatus.WITHDRAWN)),
               TaskAssignment.placed_at.is_not(None),
               VolunteerTask.status == TaskStatus.OPEN,
               VolunteerTask.ends_at <= now, VolunteerTask.ends_at > now - timedelta(days=HISTORY_DAYS))
    )).all()
    history: dict[int, list[tuple[datetime, datetime, AssignmentStatus]]] = defaultdict(list)
    for volunteer_id, starts_at, ends_at, status in rows:
        history[volunteer_id].append((starts_at, ends_at, status))
    return history


async def rank(session: AsyncSession, task: VolunteerTask, *, now: datetime,
               exclude: Collection[int] = (), limit: int = CANDIDATE_LIMIT) -> list[Candidate]:
    """Eligible volunteers for `task`, best first (see the module's rules)."""
    community = task.community
    if task.request_id is not None:
        from models import ServiceRequest  # the resident of the case never serves their own case

        resident = await session.scalar(select(ServiceRequest.resident_id).where(ServiceRequest.id == task.request_id))
        exclude = {*exclude, resident} if resident is not None else exclude
    base = _eligible(task, exclude)
    # Tier 1, the task's community: its index (community, status, last_offered_at) gives the rows in
    # rotation order, so the LIMIT stops the scan early.
    chosen: list[Volunteer] = list((await session.scalars(
        base.where(Volunteer.community_id == community.id)
        .order_by(Volunteer.last_offered_at, Volunteer.user_id).limit(limit)
    )).all())
    if len(chosen) < limit:
        # Tier 2, the street's other communities: the eligible ones' ids only, ordered here. An ORDER BY
        # in SQL would tempt the planner into walking (status, last_offered_at) across every community of
        # the database until enough of the street turned up: the cost would grow with all volunteers.
        neighbours = list((await session.scalars(select(Community.id).where(
            Community.district == community.district, Community.id != community.id, Community.active.is_(True)
        ))).all())
        if neighbours:
            rows = (await session.execute(
                base.with_only_columns(Volunteer.user_id, Volunteer.last_offered_at)
                .where(Volunteer.community_id.in_(neighbours))
            )).all()
            wanted = [user_id for user_id, _at in sorted(rows, key=lambda r: (r[1], r[0]))[: limit - len(chosen)]]
            if wanted:
                more = {v.user_id: v for v in (await session.scalars(
                    select(Volunteer).where(Volunteer.user_id.in_(wanted)))).all()}
                chosen.extend(more[i] for i in wanted if i in more)
    if not chosen:
        return []
    history = await _history(session, [v.user_id for v in chosen], now)
    recent_from = now - timedelta(days=RECENT_DAYS)
    candidates = []
    for volunteer in chosen:
        places = history.get(volunteer.user_id, [])
        recent = sum(int((end - start).total_seconds() // 60) for start, end, status in places
                     if status is AssignmentStatus.ACCEPTED and end > recent_from)
        distance = None
        if None not in (task.latitude, task.longitude, volunteer.latitude, volunteer.longitude):
            distance = haversine_km(task.latitude, task.longitude, volunteer.latitude, volunteer.longitude)
        candidates.append(Candidate(
            volunteer_id=volunteer.user_id, name=volunteer.real_name, community_id=volunteer.community_id,
            same_community=volunteer.community_id == community.id, distance_km=distance, recent_minutes=recent,
            accepted=len(places), kept=sum(1 for *_span, status in places if status is AssignmentStatus.ACCEPTED),
            last_offered_at=volunteer.last_offered_at,
        ))
    candidates.sort(key=Candidate.sort_key)
    return candidates
