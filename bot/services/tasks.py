"""Volunteer tasks: created by a social worker, offered in waves, accepted, waitlisted, withdrawn.

Every path that changes who holds a place first locks the task row (`lock_task`: SELECT …
FOR UPDATE on PostgreSQL; on SQLite each transaction already holds the write lock), then
reads the assignments afresh. So of a hundred volunteers pressing Accept at once on a task
with three places, exactly three get a place and the rest join the waitlist in the order
the database saw them.

Offers go out in waves (`send_wave`): twice the open places, to the best-ranked volunteers
(`bot.services.dispatch.rank`) not offered yet; while places stay open, the next wave
follows after `TaskPolicy.wave_minutes` (a `task_wave` reminder), or at once when every
open offer was declined. Accepted volunteers get `task_reminder`s before the start (by
default a day and an hour before), each with "still coming?" buttons; a reminder whose task
was cancelled or whose volunteer withdrew does nothing when it falls due.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.services import dispatch
from bot.services.errors import N_, InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.notices import Notice, NoticeButton, enqueue, localized, period, phrases, timestamp
from bot.services.volunteers import SKILLS
from models import (
    HOLDING,
    AssignmentStatus,
    Community,
    EventKind,
    Reminder,
    ReminderStatus,
    RequestEvent,
    RequestStatus,
    Role,
    ServiceRecord,
    ServiceRequest,
    TaskAssignment,
    TaskKind,
    TaskStatus,
    User,
    Volunteer,
    VolunteerStatus,
    VolunteerTask,
)

log = logging.getLogger(__name__)

TITLE_MAX = 100
PLACE_MAX = 200
DETAILS_MAX = 1000
REASON_MAX = 300
NEEDED_MAX = 50
LONGEST = timedelta(hours=12)
SOONEST = timedelta(minutes=15)  # a task starts at least this long after it is created
FURTHEST = timedelta(days=180)

TASK_WAVE = "task_wave"
TASK_REMINDER = "task_reminder"

# A case's task may be made while the social worker holds the case.
CASE_HELD = (RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS)


@dataclass(frozen=True)
class TaskPolicy:
    """The operator's settings for tasks (see `bot.config.Settings`)."""

    wave_minutes: int = 60  # how long a wave waits for answers before the next one
    reminder_minutes: tuple[int, ...] = (24 * 60, 60)  # reminders this long before the start
    candidate_limit: int = dispatch.CANDIDATE_LIMIT
    far_metres: int = 500  # a check-in farther than this from the task's place is flagged (never refused)
    checkout_grace_minutes: int = 120  # after the end, a missing check-out is flagged for the social worker


@dataclass(frozen=True)
class TaskForm:
    kind: TaskKind
    title: str
    place: str
    starts_at: datetime  # aware
    ends_at: datetime
    needed: int
    skills: tuple[str, ...] = ()
    details: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    request_id: int | None = None


@dataclass(frozen=True)
class Answer:
    """What an Accept did: a place (`position` None) or the waitlist (`position` 1, 2, …)."""

    task: VolunteerTask
    assignment: TaskAssignment
    position: int | None = None


@dataclass
class Roster:
    """A task with its assignments and the volunteers behind them, for its card."""

    task: VolunteerTask
    accepted: list[tuple[TaskAssignment, Volunteer]] = field(default_factory=list)
    waitlisted: list[tuple[TaskAssignment, Volunteer]] = field(default_factory=list)
    offered: int = 0
    declined: int = 0
    withdrawn: list[tuple[TaskAssignment, Volunteer]] = field(default_factory=list)
    records: dict[int, ServiceRecord] = field(default_factory=dict)  # check-ins and check-outs, by volunteer

    @property
    def open_places(self) -> int:
        return max(0, self.task.needed - len(self.accepted))


# --- checks --------------------------------------------------------------------------------------------------


def _words(text: str | None, limit: int, empty: str, too_long: str) -> str:
    words = " ".join((text or "").split())
    if not words:
        raise InvalidInput(empty)
    if len(words) > limit:
        raise InvalidInput(too_long, limit=limit)
    return words


def check_title(text: str | None) -> str:
    return _words(text, TITLE_MAX, N_("Please give the task a short title, like “Accompany Mrs Wang to hospital”."),
                  N_("Please keep the title within {limit} characters."))


def check_place(text: str | None) -> str:
    return _words(text, PLACE_MAX, N_("Please say where the task takes place."),
                  N_("Please keep the place within {limit} characters."))


def check_reason(text: str | None) -> str:
    return _words(text, REASON_MAX, N_("Please give the reason in a few words: the volunteers read it."),
                  N_("Please keep the reason within {limit} characters."))


def check_needed(value: int | str | None) -> int:
    try:
        needed = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(N_("Please give the number of volunteers needed as a number, like 2.")) from None
    if needed < 1:
        raise InvalidInput(N_("A task needs at least one volunteer."))
    if needed > NEEDED_MAX:
        raise InvalidInput(N_("At most {limit} volunteers per task: for more, make several tasks."), limit=NEEDED_MAX)
    return needed


def check_period(starts_at: datetime, ends_at: datetime, *, now: datetime, tz: str) -> None:
    if ends_at <= starts_at:
        raise InvalidInput(N_("The end must be after the start."))
    if starts_at < now + SOONEST:
        raise InvalidInput(N_("The start must be at least {minutes} minutes from now."),
                           minutes=int(SOONEST.total_seconds() // 60))
    if starts_at > now + FURTHEST:
        raise InvalidInput(N_("Tasks can be planned at most {days} days ahead."), days=FURTHEST.days)
    if ends_at - starts_at > LONGEST:
        raise InvalidInput(N_("A task lasts at most {hours} hours: for longer, make one task per day."),
                           hours=int(LONGEST.total_seconds() // 3600))
    zone = ZoneInfo(tz)
    if starts_at.astimezone(zone).date() != ends_at.astimezone(zone).date():
        raise InvalidInput(N_("A task must end on the day it starts: for longer, make one task per day."))


def check_skills(codes: Sequence[str]) -> tuple[str, ...]:
    unknown = [c for c in codes if c not in SKILLS]
    if unknown:
        raise InvalidInput(N_("Please choose the skills from the list."))
    return tuple(dict.fromkeys(codes))


# --- who may do what -------------------------------------------------------------------------------------------


def _is_worker(user: User) -> bool:
    return user.has_role(Role.SOCIAL_WORKER) and user.social_worker is not None


async def may_manage(session: AsyncSession, user: User, task: VolunteerTask) -> bool:
    """A coordinator; a social worker who made the task, holds its case now, or supervises its community."""
    if user.has_role(Role.COORDINATOR):
        return True
    if not _is_worker(user):
        return False  # whoever made it, without the role now they manage nothing
    worker = user.social_worker
    if task.created_by_id == user.id or (worker.is_supervisor and worker.home_community_id == task.community_id):
        return True
    if task.request_id is not None:
        holder = await session.scalar(select(ServiceRequest.assigned_worker_id)
                                      .where(ServiceRequest.id == task.request_id))
        return holder == user.id
    return False


async def _require_manager(session: AsyncSession, user: User, task: VolunteerTask) -> None:
    if not await may_manage(session, user, task):
        raise PermissionDenied(N_("Only the social worker who made this task, a supervisor or a coordinator can do "
                                  "this."))


async def _case_closed(session: AsyncSession, task: VolunteerTask) -> bool:
    """The case behind the task was cancelled or closed: nobody should be sent to the door any more."""
    if task.request_id is None:
        return False
    status = await session.scalar(select(ServiceRequest.status).where(ServiceRequest.id == task.request_id))
    return status in (RequestStatus.CANCELLED, RequestStatus.CLOSED)


async def lock_task(session: AsyncSession, task_id: int) -> VolunteerTask:
    """The task as committed now, locked until the transaction ends (see the module's docstring)."""
    task = await session.scalar(
        select(VolunteerTask).where(VolunteerTask.id == task_id).with_for_update(of=VolunteerTask)
        .execution_options(populate_existing=True)
    )
    if task is None:
        raise NotFound(N_("This task could not be found."))
    return task


async def _assignments(session: AsyncSession, task_id: int, *statuses: AssignmentStatus) -> list[TaskAssignment]:
    stmt = (select(TaskAssignment).where(TaskAssignment.task_id == task_id)
            .order_by(TaskAssignment.answered_at, TaskAssignment.id).execution_options(populate_existing=True))
    if statuses:
        stmt = stmt.where(TaskAssignment.status.in_(statuses))
    return list((await session.scalars(stmt)).all())


async def _accepted_count(session: AsyncSession, task_id: int) -> int:
    return await session.scalar(select(func.count()).select_from(TaskAssignment).where(
        TaskAssignment.task_id == task_id, TaskAssignment.status == AssignmentStatus.ACCEPTED)) or 0


# --- what notices say -----------------------------------------------------------------------------------------


def _about(task: VolunteerTask) -> dict[str, Any]:
    return {
        "title": task.title,
        "start": timestamp(task.starts_at),
        "when": period(task.starts_at, task.ends_at),
        "place": task.place,
        "community": localized(task.community.name, task.community.name_en),
        "needed": task.needed,
    }


# Two-character family names (复姓) that a volunteer's name may begin with.
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯",
    "轩辕", "令狐", "端木", "西门", "南宫", "独孤", "申屠", "澹台", "公冶", "呼延", "万俟", "闻人", "赫连",
})


def public_volunteer_name(real_name: str) -> str:
    """How a resident hears of their volunteer: the family name only (张 of 张伟, 欧阳 of 欧阳娜娜; the first
    word of a name in Latin letters)."""
    name = real_name.strip()
    if not name:
        return "—"
    if name.isascii():
        return name.split()[0]
    return name[:2] if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else name[0]


async def _person(session: AsyncSession, user_id: int) -> User:
    person = await session.get(User, user_id)
    assert person is not None
    return person


def _remind_at(task: VolunteerTask, policy: TaskPolicy, now: datetime) -> list[tuple[int, datetime]]:
    return [(m, task.starts_at - timedelta(minutes=m)) for m in sorted(set(policy.reminder_minutes), reverse=True)
            if task.starts_at - timedelta(minutes=m) > now]


def _schedule(session: AsyncSession, kind: str, task: VolunteerTask, due_at: datetime, *, now: datetime,
              user_id: int | None = None, payload: dict[str, Any] | None = None) -> None:
    session.add(Reminder(kind=kind, due_at=due_at, task_id=task.id, request_id=task.request_id, user_id=user_id,
                         payload=payload or {}, created_at=now))


async def _cancel_reminders(session: AsyncSession, task_id: int, *, now: datetime, kinds: Sequence[str] = (),
                            user_id: int | None = None) -> None:
    """Pending reminders of the task (of these kinds, for this volunteer) will never fire (SKIP LOCKED: one
    firing right now finds the task changed when it gets the task's lock, and does nothing)."""
    pending = select(Reminder.id).where(Reminder.task_id == task_id, Reminder.status == ReminderStatus.PENDING)
    if kinds:
        pending = pending.where(Reminder.kind.in_(list(kinds)))
    if user_id is not None:
        pending = pending.where(Reminder.user_id == user_id)
    if session.get_bind().dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    await session.execute(
        update(Reminder).where(Reminder.id.in_(pending), Reminder.status == ReminderStatus.PENDING)
        .values(status=ReminderStatus.CANCELLED, done_at=now).execution_options(synchronize_session=False)
    )


def _case_event(session: AsyncSession, task: VolunteerTask, kind: EventKind, *, now: datetime,
                actor: User | None = None, subject_id: int | None = None, note: str | None = None) -> None:
    if task.request_id is None:
        return
    session.add(RequestEvent(request_id=task.request_id, actor_id=actor.id if actor else None, kind=kind,
                             subject_id=subject_id, reason=str(task.id), note=note, created_at=now))


async def _tell_resident(session: AsyncSession, task: VolunteerTask, template: str, params: dict[str, Any], *,
                         now: datetime) -> None:
    if task.request_id is None:
        return
    request = await session.get(ServiceRequest, task.request_id)
    if request is None or request.status in (RequestStatus.CANCELLED, RequestStatus.CLOSED):
        return
    resident = await _person(session, request.resident_id)
    enqueue(session, Notice(resident, template, {"number": request.number, **params},
                            (NoticeButton(N_("Open request"), "request.view", request.id),)), now=now)


# --- creating and offering ----------------------------------------------------------------------------------


async def create(session: AsyncSession, worker: User, form: TaskForm, *, now: datetime,
                 policy: TaskPolicy) -> tuple[VolunteerTask, int]:
    """Make the task and send its first wave of offers. Returns the task and how many were offered it."""
    if not (_is_worker(worker) or worker.has_role(Role.COORDINATOR)):
        raise PermissionDenied(N_("Only social workers can create volunteer tasks."))
    title, place = check_title(form.title), check_place(form.place)
    needed = check_needed(form.needed)
    skills = check_skills(form.skills)
    details = " ".join((form.details or "").split()) or None
    if details is not None and len(details) > DETAILS_MAX:
        raise InvalidInput(N_("Please keep the details within {limit} characters."), limit=DETAILS_MAX)
    request = None
    if form.request_id is not None:
        from bot.services.cases import lock_request

        request = await lock_request(session, form.request_id)
        if request is None:
            raise NotFound(N_("This request could not be found."))
        if request.assigned_worker_id != worker.id or request.status not in CASE_HELD:
            raise PermissionDenied(N_("Only the social worker who holds the case can ask volunteers to help with it."))
        community = request.community
        kind = TaskKind.CASE
    else:
        if form.kind is TaskKind.CASE:
            raise InvalidInput(N_("Please choose a group or community activity."))
        home = worker.social_worker.home_community if worker.social_worker is not None else None
        if home is None:
            raise PermissionDenied(N_("Only a social worker with a home community can create its activities."))
        community = home
        kind = form.kind
    check_period(form.starts_at, form.ends_at, now=now, tz=community.timezone)
    task = VolunteerTask(
        kind=kind, title=title, details=details, place=place, latitude=form.latitude, longitude=form.longitude,
        starts_at=form.starts_at, ends_at=form.ends_at, needed=needed, skills=list(skills),
        community_id=community.id, community=community, request_id=request.id if request else None,
        created_by_id=worker.id, status=TaskStatus.OPEN, waves=0, created_at=now, updated_at=now,
    )
    session.add(task)
    await session.flush()
    _case_event(session, task, EventKind.TASK_CREATED, now=now, actor=worker, note=title)
    offered = await send_wave(session, task, now=now, policy=policy)
    return task, offered


async def send_wave(session: AsyncSession, task: VolunteerTask, *, now: datetime, policy: TaskPolicy,
                    notify_empty: bool = True) -> int:
    """Offer the task to twice as many new volunteers as places are open; schedule the next wave.

    The caller holds the task (just created, or locked). Returns how many were offered it.
    """
    if task.status is not TaskStatus.OPEN or task.starts_at <= now:
        return 0
    open_places = task.needed - await _accepted_count(session, task.id)
    if open_places <= 0:
        return 0
    await _cancel_reminders(session, task.id, now=now, kinds=(TASK_WAVE,))
    candidates = (await dispatch.rank(session, task, now=now, limit=policy.candidate_limit))[: 2 * open_places]
    owner = await _person(session, task.created_by_id)
    if not candidates:
        if not notify_empty:
            return 0
        enqueue(session, Notice(owner, N_("Nobody more can be offered “{title}” now: no other approved volunteer is "
                                          "free then with the skills it needs. You can add volunteers yourself."),
                                {"title": task.title}, (NoticeButton(N_("📋 Open task"), "task.view", task.id),)),
                now=now)
        return 0
    task.waves += 1
    task.updated_at = now
    about = _about(task)
    buttons = []
    for position, candidate in enumerate(candidates, start=1):
        assignment = TaskAssignment(task_id=task.id, volunteer_id=candidate.volunteer_id, wave=task.waves,
                                    rank=position, status=AssignmentStatus.OFFERED, offered_at=now)
        session.add(assignment)
        buttons.append(assignment)
    await session.flush()
    await session.execute(update(Volunteer).where(Volunteer.user_id.in_([c.volunteer_id for c in candidates]))
                          .values(last_offered_at=now).execution_options(synchronize_session=False))
    people = {u.id: u for u in (await session.scalars(
        select(User).where(User.id.in_([c.volunteer_id for c in candidates])))).all()}
    enqueue(session, *(
        Notice(people[a.volunteer_id],
               N_("🙋 Can you help?\n<b>{title}</b>\n🕒 {when}\n📍 {place} ({community})\n"
                  "{needed} volunteer(s) needed. The first to accept get the places."), about,
               (NoticeButton(N_("✅ I can help"), "task.accept", a.id), NoticeButton(N_("✖️ Decline"), "task.decline", a.id)))
        for a in buttons
    ), now=now)
    next_wave = now + timedelta(minutes=policy.wave_minutes)
    if next_wave < task.starts_at:
        # The wave it follows: a reminder claimed while another wave went out (Offer to more, a decline)
        # finds the count moved on and does nothing.
        _schedule(session, TASK_WAVE, task, next_wave, now=now, payload={"after_wave": task.waves})
    return len(candidates)


# --- a volunteer answers ------------------------------------------------------------------------------------


async def own_assignment(session: AsyncSession, user: User, assignment_id: int, *,
                         missing: str = N_("This offer could not be found."),
                         foreign: str = N_("This offer was made to someone else.")) -> tuple[VolunteerTask,
                                                                                           TaskAssignment]:
    """Lock the assignment's task, then read the assignment afresh; it must be the user's own
    (`missing` and `foreign` say otherwise, in the words of the caller's flow)."""
    task_id = await session.scalar(select(TaskAssignment.task_id).where(TaskAssignment.id == assignment_id))
    if task_id is None:
        raise NotFound(missing)
    task = await lock_task(session, task_id)
    assignment = await session.get(TaskAssignment, assignment_id, populate_existing=True)
    if assignment is None or assignment.volunteer_id != user.id:
        raise PermissionDenied(foreign)
    return task, assignment


async def lock_volunteer(session: AsyncSession, user_id: int) -> Volunteer | None:
    """The volunteer as committed now, locked until the transaction ends (PostgreSQL).

    Taken after the task's lock by every path that gives a place, so that two of them for
    one volunteer in overlapping tasks (two offers accepted at once, a promotion and an
    accept) run one after the other and the second sees the first's place. The order is
    always task, then volunteer: never the other way round.
    """
    return await session.scalar(
        select(Volunteer).where(Volunteer.user_id == user_id).with_for_update(of=Volunteer)
        .execution_options(populate_existing=True)
    )


async def _approved(session: AsyncSession, user_id: int) -> Volunteer:
    volunteer = await lock_volunteer(session, user_id)
    if volunteer is None or volunteer.status is not VolunteerStatus.APPROVED:
        raise PermissionDenied(N_("Only approved volunteers can take tasks; if yours is suspended, a social worker "
                                  "will tell you when it is reinstated."))
    return volunteer


async def _clash(session: AsyncSession, volunteer_id: int, task: VolunteerTask) -> VolunteerTask | None:
    """Another open task overlapping this one in which the volunteer holds a place."""
    return await session.scalar(
        select(VolunteerTask).join(TaskAssignment, TaskAssignment.task_id == VolunteerTask.id).where(
            TaskAssignment.volunteer_id == volunteer_id, TaskAssignment.status == AssignmentStatus.ACCEPTED,
            VolunteerTask.status == TaskStatus.OPEN, VolunteerTask.id != task.id,
            VolunteerTask.starts_at < task.ends_at, VolunteerTask.ends_at > task.starts_at,
        ).limit(1)
    )


async def _refuse_clash(session: AsyncSession, volunteer_id: int, task: VolunteerTask) -> None:
    clash = await _clash(session, volunteer_id, task)
    if clash is not None:
        raise InvalidState(N_("You already have a place in “{title}” at that time, so you cannot take this one too."),
                           title=clash.title)


async def _place(session: AsyncSession, task: VolunteerTask, assignment: TaskAssignment, volunteer: Volunteer, *,
                 now: datetime, policy: TaskPolicy, actor: User | None = None) -> None:
    """The volunteer now holds a place: reminders, the owner and (for a case) the resident are told."""
    assignment.status = AssignmentStatus.ACCEPTED
    assignment.placed_at = now
    for minutes, due_at in _remind_at(task, policy, now):
        _schedule(session, TASK_REMINDER, task, due_at, now=now, user_id=volunteer.user_id,
                  payload={"assignment": assignment.id, "minutes": minutes})
    _case_event(session, task, EventKind.VOLUNTEER_COMING, now=now, actor=actor, subject_id=volunteer.user_id,
                note=volunteer.real_name)
    await _tell_resident(session, task, N_("🙋 For your request {number}: a volunteer, {name}, will come at {start} "
                                           "({title})."),
                         {"name": public_volunteer_name(volunteer.real_name), "start": timestamp(task.starts_at),
                          "title": task.title}, now=now)


async def accept(session: AsyncSession, user: User, assignment_id: int, *, now: datetime,
                 policy: TaskPolicy) -> Answer:
    task, assignment = await own_assignment(session, user, assignment_id)
    volunteer = await _approved(session, user.id)
    if task.status is TaskStatus.CANCELLED or await _case_closed(session, task):
        raise InvalidState(N_("“{title}” was cancelled."), title=task.title)
    if task.starts_at <= now:
        if assignment.status is AssignmentStatus.OFFERED:
            assignment.status = AssignmentStatus.EXPIRED
        raise InvalidState(N_("“{title}” has already begun: this offer has ended."), title=task.title)
    if assignment.status is AssignmentStatus.ACCEPTED:
        raise InvalidState(N_("You already have a place in “{title}”."), title=task.title)
    if assignment.status is AssignmentStatus.WAITLISTED:
        raise InvalidState(N_("You are already on the waitlist of “{title}”."), title=task.title)
    if assignment.status not in (AssignmentStatus.OFFERED, AssignmentStatus.DECLINED, AssignmentStatus.WITHDRAWN):
        raise InvalidState(N_("This offer has ended."))
    await _refuse_clash(session, user.id, task)
    assignment.answered_at = now
    assignment.withdrawn_at = None
    assignment.note = None
    owner = await _person(session, task.created_by_id)
    filled = await _accepted_count(session, task.id)
    if filled < task.needed:
        await _place(session, task, assignment, volunteer, now=now, policy=policy)
        enqueue(session, Notice(owner, N_("🙋 {name} will come to “{title}” ({filled} of {needed} places filled)."),
                                {"name": volunteer.real_name, "title": task.title, "filled": filled + 1,
                                 "needed": task.needed},
                                (NoticeButton(N_("📋 Open task"), "task.view", task.id),)), now=now)
        if filled + 1 >= task.needed:
            await _cancel_reminders(session, task.id, now=now, kinds=(TASK_WAVE,))
        await session.flush()
        return Answer(task, assignment)
    assignment.status = AssignmentStatus.WAITLISTED
    await session.flush()
    position = await session.scalar(select(func.count()).select_from(TaskAssignment).where(
        TaskAssignment.task_id == task.id, TaskAssignment.status == AssignmentStatus.WAITLISTED)) or 1
    return Answer(task, assignment, position)


async def decline(session: AsyncSession, user: User, assignment_id: int, *, now: datetime,
                  policy: TaskPolicy) -> VolunteerTask:
    task, assignment = await own_assignment(session, user, assignment_id)
    if assignment.status is AssignmentStatus.DECLINED:
        raise InvalidState(N_("You already declined “{title}”."), title=task.title)
    if assignment.status in HOLDING:
        raise InvalidState(N_("You have accepted “{title}”: to give up your place, use “I can't come”."),
                           title=task.title)
    if assignment.status is not AssignmentStatus.OFFERED:
        raise InvalidState(N_("This offer has ended."))
    assignment.status = AssignmentStatus.DECLINED
    assignment.answered_at = now
    # Everyone asked said no: the next wave goes out now rather than after the wait.
    if not await _assignments(session, task.id, AssignmentStatus.OFFERED) and not await _case_closed(session, task):
        await send_wave(session, task, now=now, policy=policy)
    return task


async def withdraw(session: AsyncSession, user: User, assignment_id: int, *, now: datetime, policy: TaskPolicy,
                   reason: str | None = None) -> VolunteerTask:
    """A volunteer gives up a place (or leaves the waitlist); the first on the waitlist moves up."""
    task, assignment = await own_assignment(session, user, assignment_id)
    if assignment.status not in HOLDING:
        raise InvalidState(N_("You have no place in “{title}” to give up."), title=task.title)
    if task.status is TaskStatus.CANCELLED:
        raise InvalidState(N_("“{title}” was cancelled."), title=task.title)
    if task.ends_at <= now:
        raise InvalidState(N_("“{title}” is over."), title=task.title)
    had_place = assignment.status is AssignmentStatus.ACCEPTED
    assignment.status = AssignmentStatus.WITHDRAWN
    assignment.withdrawn_at = now
    assignment.note = " ".join((reason or "").split())[:REASON_MAX] or None
    await _cancel_reminders(session, task.id, now=now, kinds=(TASK_REMINDER,), user_id=user.id)
    if not had_place:
        return task
    volunteer = await session.get(Volunteer, user.id)
    owner = await _person(session, task.created_by_id)
    _case_event(session, task, EventKind.VOLUNTEER_WITHDRAWN, now=now, actor=user, subject_id=user.id,
                note=volunteer.real_name if volunteer else user.display_name)
    # Once the task has begun nobody is moved up: they would be told to come to something under way.
    promoted = await _promote(session, task, now=now, policy=policy) if task.starts_at > now else None
    params = {"name": volunteer.real_name if volunteer else user.display_name, "title": task.title,
              "start": timestamp(task.starts_at)}
    if promoted is None:
        await _tell_resident(session, task, N_("For your request {number}: the volunteer who was to come at {start} "
                                               "cannot come. Your social worker is arranging someone else and will "
                                               "tell you."), {"start": timestamp(task.starts_at)}, now=now)
    if promoted is not None:
        params["promoted"] = promoted.real_name
        template = N_("↩️ {name} can no longer come to “{title}” ({start}). {promoted} moved up from the waitlist "
                      "and has the place.")
    elif task.starts_at > now:
        await session.flush()
        offered = await send_wave(session, task, now=now, policy=policy, notify_empty=False)
        params["offered"] = offered
        template = (N_("↩️ {name} can no longer come to “{title}” ({start}). Nobody was on the waitlist; the place "
                       "was offered to {offered} more volunteer(s).") if offered else
                    N_("↩️ {name} can no longer come to “{title}” ({start}). Nobody was on the waitlist and nobody "
                       "more can be offered it: you can add a volunteer yourself."))
    else:
        template = N_("↩️ {name} can no longer come to “{title}” ({start}).")
    enqueue(session, Notice(owner, template, params, (NoticeButton(N_("📋 Open task"), "task.view", task.id),)),
            now=now)
    return task


async def _promote(session: AsyncSession, task: VolunteerTask, *, now: datetime,
                   policy: TaskPolicy) -> Volunteer | None:
    """The first on the waitlist who can still come takes the open place."""
    if await _accepted_count(session, task.id) >= task.needed:
        return None
    for waiting in await _assignments(session, task.id, AssignmentStatus.WAITLISTED):
        volunteer = await lock_volunteer(session, waiting.volunteer_id)
        if volunteer is None or volunteer.status is not VolunteerStatus.APPROVED:
            continue
        if await _clash(session, waiting.volunteer_id, task) is not None:
            continue  # took another task at that time meanwhile: stays waiting for this one
        await _place(session, task, waiting, volunteer, now=now, policy=policy)
        person = await _person(session, volunteer.user_id)
        enqueue(session, Notice(person, N_("🎉 A place opened: you now have a place in “{title}”, {start}, at "
                                           "{place}. You will be reminded before it starts."), _about(task),
                                (NoticeButton(N_("↩️ I can't come"), "task.withdraw", waiting.id),)), now=now)
        return volunteer
    return None


async def confirm(session: AsyncSession, user: User, assignment_id: int, *, now: datetime) -> VolunteerTask:
    """"Still coming" after a reminder."""
    task, assignment = await own_assignment(session, user, assignment_id)
    if task.status is TaskStatus.CANCELLED:
        raise InvalidState(N_("“{title}” was cancelled."), title=task.title)
    if assignment.status is not AssignmentStatus.ACCEPTED:
        raise InvalidState(N_("You have no place in “{title}” any more."), title=task.title)
    assignment.confirmed_at = now
    return task


# --- the social worker's side ---------------------------------------------------------------------------------


async def cancel(session: AsyncSession, actor: User, task_id: int, reason: str | None, *,
                 now: datetime) -> VolunteerTask:
    words = check_reason(reason)
    task = await lock_task(session, task_id)
    await _require_manager(session, actor, task)
    if task.status is TaskStatus.CANCELLED:
        raise InvalidState(N_("“{title}” is already cancelled."), title=task.title)
    if task.ends_at <= now:
        raise InvalidState(N_("“{title}” is over."), title=task.title)
    await _call_off(session, task, words, words, now=now, actor=actor)
    return task


# Why a task was called off when nobody typed a reason (stored as the msgid; shown translated).
RESIDENT_CANCELLED = N_("the resident cancelled the request")
SYSTEM_REASONS = frozenset({RESIDENT_CANCELLED})


async def cancel_for_request(session: AsyncSession, request_id: int, *, now: datetime) -> int:
    """The resident cancelled their request: its open tasks are called off and the volunteers told.

    The caller holds the request's lock; tasks are locked after it (request, then task: the
    order every path keeps). Returns how many tasks were cancelled.
    """
    ids = (await session.scalars(select(VolunteerTask.id).where(
        VolunteerTask.request_id == request_id, VolunteerTask.status == TaskStatus.OPEN,
        VolunteerTask.ends_at > now).order_by(VolunteerTask.id))).all()
    for task_id in ids:
        task = await lock_task(session, task_id)
        if task.status is TaskStatus.OPEN:
            await _call_off(session, task, RESIDENT_CANCELLED, phrases(RESIDENT_CANCELLED), now=now, actor=None,
                            tell_resident=False)
    return len(ids)


async def _call_off(session: AsyncSession, task: VolunteerTask, stored: str, shown: Any, *, now: datetime,
                    actor: User | None, tell_resident: bool = True) -> None:
    """Cancel a locked task: everyone offered it or holding a place is told; its reminders die with it."""
    task.status = TaskStatus.CANCELLED
    task.cancel_reason = stored
    task.cancelled_at = now
    task.updated_at = now
    told, anyone_placed = [], False
    for assignment in await _assignments(session, task.id, AssignmentStatus.OFFERED, *HOLDING):
        anyone_placed = anyone_placed or assignment.status is AssignmentStatus.ACCEPTED
        assignment.status = AssignmentStatus.CANCELLED
        told.append(assignment.volunteer_id)
    await _cancel_reminders(session, task.id, now=now)
    people = (await session.scalars(select(User).where(User.id.in_(told)))).all() if told else []
    enqueue(session, *(Notice(p, N_("✖️ “{title}” ({start}) is cancelled: “{reason}”. Thank you all the same."),
                              {"title": task.title, "start": timestamp(task.starts_at), "reason": shown})
                       for p in people), now=now)
    _case_event(session, task, EventKind.TASK_CANCELLED, now=now, actor=actor, note=stored)
    if tell_resident and anyone_placed:  # they were told a volunteer would come
        await _tell_resident(session, task, N_("For your request {number}: the volunteer visit at {start} ({title}) "
                                               "is cancelled. Your social worker will tell you what comes next."),
                             {"start": timestamp(task.starts_at), "title": task.title}, now=now)


async def drop_places(session: AsyncSession, volunteer_id: int, *, now: datetime, policy: TaskPolicy) -> int:
    """A suspended volunteer gives up their places and waitlist spots in tasks still to come.

    Each task is locked (in id order) before the volunteer, as everywhere; the waitlist moves
    up and each task's social worker is told. Returns how many places were given up.
    """
    ids = (await session.scalars(
        select(TaskAssignment.task_id).join(VolunteerTask, VolunteerTask.id == TaskAssignment.task_id)
        .where(TaskAssignment.volunteer_id == volunteer_id, TaskAssignment.status.in_(HOLDING),
               VolunteerTask.status == TaskStatus.OPEN, VolunteerTask.starts_at > now)
        .order_by(TaskAssignment.task_id))).all()
    dropped = 0
    for task_id in ids:
        task = await lock_task(session, task_id)
        assignment = await session.scalar(select(TaskAssignment).where(
            TaskAssignment.task_id == task_id, TaskAssignment.volunteer_id == volunteer_id)
            .execution_options(populate_existing=True))
        if assignment is None or assignment.status not in HOLDING:
            continue
        had_place = assignment.status is AssignmentStatus.ACCEPTED
        assignment.status = AssignmentStatus.WITHDRAWN
        assignment.withdrawn_at = now
        await _cancel_reminders(session, task.id, now=now, kinds=(TASK_REMINDER,), user_id=volunteer_id)
        if not had_place:
            continue
        dropped += 1
        volunteer = await session.get(Volunteer, volunteer_id)
        _case_event(session, task, EventKind.VOLUNTEER_WITHDRAWN, now=now, subject_id=volunteer_id,
                    note=volunteer.real_name if volunteer else None)
        promoted = await _promote(session, task, now=now, policy=policy)
        owner = await _person(session, task.created_by_id)
        params = {"name": volunteer.real_name if volunteer else "—", "title": task.title,
                  "start": timestamp(task.starts_at), "promoted": promoted.real_name if promoted else ""}
        template = (N_("⏸ {name} is suspended and no longer has a place in “{title}” ({start}). {promoted} moved up "
                       "from the waitlist and has the place.") if promoted else
                    N_("⏸ {name} is suspended and no longer has a place in “{title}” ({start}). The place is open "
                       "again: offer it to more volunteers or add one yourself."))
        if promoted is None:
            await _tell_resident(session, task, N_("For your request {number}: the volunteer who was to come at "
                                                   "{start} cannot come. Your social worker is arranging someone "
                                                   "else and will tell you."),
                                 {"start": timestamp(task.starts_at)}, now=now)
        enqueue(session, Notice(owner, template, params, (NoticeButton(N_("📋 Open task"), "task.view", task.id),)),
                now=now)
    return dropped


async def add_directly(session: AsyncSession, actor: User, task_id: int, volunteer_id: int, *, now: datetime,
                       policy: TaskPolicy) -> Volunteer:
    """The social worker gives a volunteer a place (agreed with them outside the bot); the volunteer is told."""
    task = await lock_task(session, task_id)
    await _require_manager(session, actor, task)
    if task.status is TaskStatus.CANCELLED:
        raise InvalidState(N_("“{title}” was cancelled."), title=task.title)
    if task.starts_at <= now:
        raise InvalidState(N_("“{title}” has already begun."), title=task.title)
    volunteer = await lock_volunteer(session, volunteer_id)
    if volunteer is None:
        raise NotFound(N_("This volunteer could not be found."))
    from bot.services.volunteers import can_review

    if not (can_review(actor, volunteer) or volunteer.community.district == task.community.district):
        raise PermissionDenied(N_("Only volunteers of this street or township can be added."))
    if volunteer.status is not VolunteerStatus.APPROVED:
        raise InvalidState(N_("{name} is not an approved volunteer at the moment."), name=volunteer.real_name)
    if await _accepted_count(session, task.id) >= task.needed:
        raise InvalidState(N_("All {needed} places of “{title}” are filled."), needed=task.needed, title=task.title)
    clash = await _clash(session, volunteer_id, task)
    if clash is not None:
        raise InvalidState(N_("{name} already has a place in “{title}” at that time."), name=volunteer.real_name,
                           title=clash.title)
    assignment = await session.scalar(select(TaskAssignment).where(
        TaskAssignment.task_id == task.id, TaskAssignment.volunteer_id == volunteer_id))
    if assignment is not None and assignment.status is AssignmentStatus.ACCEPTED:
        raise InvalidState(N_("{name} already has a place in “{title}”."), name=volunteer.real_name, title=task.title)
    if assignment is None:
        assignment = TaskAssignment(task_id=task.id, volunteer_id=volunteer_id, wave=0, offered_at=now)
        session.add(assignment)
        await session.flush()
    assignment.answered_at = now
    assignment.withdrawn_at = None
    await _place(session, task, assignment, volunteer, now=now, policy=policy, actor=actor)
    person = await _person(session, volunteer_id)
    enqueue(session, Notice(person, N_("🙋 {worker} added you to “{title}”: {when} at {place} ({community}). "
                                       "You will be reminded before it starts."),
                            {**_about(task), "worker": actor.real_name or actor.display_name},
                            (NoticeButton(N_("↩️ I can't come"), "task.withdraw", assignment.id),)), now=now)
    return volunteer


async def offer_more(session: AsyncSession, actor: User, task_id: int, *, now: datetime, policy: TaskPolicy) -> int:
    """The next wave now, at the social worker's request."""
    task = await lock_task(session, task_id)
    await _require_manager(session, actor, task)
    if task.status is TaskStatus.CANCELLED:
        raise InvalidState(N_("“{title}” was cancelled."), title=task.title)
    if task.starts_at <= now:
        raise InvalidState(N_("“{title}” has already begun."), title=task.title)
    if await _accepted_count(session, task.id) >= task.needed:
        raise InvalidState(N_("All {needed} places of “{title}” are filled."), needed=task.needed, title=task.title)
    return await send_wave(session, task, now=now, policy=policy, notify_empty=False)  # the answer says it


async def roster(session: AsyncSession, viewer: User, task_id: int) -> Roster:
    task = await session.get(VolunteerTask, task_id, populate_existing=True)
    if task is None:
        raise NotFound(N_("This task could not be found."))
    await _require_manager(session, viewer, task)
    rows = (await session.execute(
        select(TaskAssignment, Volunteer).join(Volunteer, Volunteer.user_id == TaskAssignment.volunteer_id)
        .where(TaskAssignment.task_id == task_id).order_by(TaskAssignment.answered_at, TaskAssignment.id)
        .execution_options(populate_existing=True)
    )).all()
    result = Roster(task)
    for assignment, volunteer in rows:
        if assignment.status is AssignmentStatus.ACCEPTED:
            result.accepted.append((assignment, volunteer))
        elif assignment.status is AssignmentStatus.WAITLISTED:
            result.waitlisted.append((assignment, volunteer))
        elif assignment.status is AssignmentStatus.OFFERED:
            result.offered += 1
        elif assignment.status is AssignmentStatus.DECLINED:
            result.declined += 1
        elif assignment.status is AssignmentStatus.WITHDRAWN:
            result.withdrawn.append((assignment, volunteer))
    result.records = {r.volunteer_id: r for r in (await session.scalars(
        select(ServiceRecord).where(ServiceRecord.task_id == task_id).execution_options(populate_existing=True)
    )).all()}
    return result


async def addable(session: AsyncSession, viewer: User, task_id: int, *, now: datetime,
                  policy: TaskPolicy) -> list[tuple[int, str, bool]]:
    """Volunteers the social worker might give a place: (user id, name, free then by their availability).

    First the ranking (free then, with the skills, not yet asked); then everyone else who could
    still take it — asked but without a place (offered, declined, waitlisted), or outside their
    usual hours — since a place added by hand was agreed with the volunteer outside the bot.
    Suspended and pending volunteers and those with an overlapping place are never listed.
    """
    task = await session.get(VolunteerTask, task_id)
    if task is None:
        raise NotFound(N_("This task could not be found."))
    await _require_manager(session, viewer, task)
    ranked = await dispatch.rank(session, task, now=now, limit=policy.candidate_limit)
    seen = {c.volunteer_id for c in ranked}
    placed = select(TaskAssignment.volunteer_id).where(TaskAssignment.task_id == task.id,
                                                       TaskAssignment.status == AssignmentStatus.ACCEPTED)
    others = (await session.scalars(
        select(Volunteer).join(Community, Community.id == Volunteer.community_id)
        .where(Community.district == task.community.district, Volunteer.status == VolunteerStatus.APPROVED,
               Volunteer.user_id.not_in(placed),
               ~dispatch.overlapping_place(Volunteer.user_id, task.starts_at, task.ends_at, other_than=task.id))
        .order_by(Volunteer.community_id != task.community_id, Volunteer.real_name).limit(200)
    )).all()
    return ([(c.volunteer_id, c.name, True) for c in ranked]
            + [(v.user_id, v.real_name, False) for v in others if v.user_id not in seen])


async def for_manager(session: AsyncSession, user: User, *, now: datetime, limit: int = 50) -> list[VolunteerTask]:
    """The tasks a social worker manages — made by them, for a case they hold, or (a supervisor) their
    community's; a coordinator's: all — not yet over, soonest first, then those of the last week."""
    scope = select(VolunteerTask)
    if not user.has_role(Role.COORDINATOR):
        worker = user.social_worker
        mine = [VolunteerTask.created_by_id == user.id,
                VolunteerTask.request_id.in_(select(ServiceRequest.id).where(ServiceRequest.assigned_worker_id
                                                                             == user.id))]
        if worker is not None and worker.is_supervisor and worker.home_community_id is not None:
            mine.append(VolunteerTask.community_id == worker.home_community_id)
        scope = scope.where(or_(*mine))
    upcoming = list((await session.scalars(scope.where(VolunteerTask.ends_at > now)
                                           .order_by(VolunteerTask.starts_at).limit(limit))).all())
    recent = list((await session.scalars(
        scope.where(VolunteerTask.ends_at <= now, VolunteerTask.ends_at > now - timedelta(days=7))
        .order_by(VolunteerTask.starts_at.desc()).limit(max(0, limit - len(upcoming))))).all())
    return upcoming + recent


async def for_volunteer(session: AsyncSession, user: User, *, now: datetime) -> list[tuple[TaskAssignment,
                                                                                            VolunteerTask]]:
    """The volunteer's places, waitlist spots and open offers in tasks that have not ended."""
    rows = (await session.execute(
        select(TaskAssignment, VolunteerTask).join(VolunteerTask, VolunteerTask.id == TaskAssignment.task_id)
        .where(TaskAssignment.volunteer_id == user.id, VolunteerTask.status == TaskStatus.OPEN,
               VolunteerTask.ends_at > now,
               TaskAssignment.status.in_((AssignmentStatus.OFFERED, *HOLDING)))
        .order_by(VolunteerTask.starts_at)
    )).all()
    return [(a, t) for a, t in rows if a.status is not AssignmentStatus.OFFERED or t.starts_at > now]


async def for_request(session: AsyncSession, request_id: int) -> dict[int, VolunteerTask]:
    rows = (await session.scalars(select(VolunteerTask).where(VolunteerTask.request_id == request_id))).all()
    return {t.id: t for t in rows}


async def assignment_of(session: AsyncSession, user: User, assignment_id: int) -> tuple[TaskAssignment,
                                                                                      VolunteerTask]:
    assignment = await session.get(TaskAssignment, assignment_id,
                                   options=[selectinload(TaskAssignment.task)], populate_existing=True)
    if assignment is None or assignment.volunteer_id != user.id:
        raise PermissionDenied(N_("This offer was made to someone else."))
    return assignment, assignment.task


# --- reminders -------------------------------------------------------------------------------------------------


async def wave_due(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: TaskPolicy) -> None:
    if reminder.task_id is None:
        return
    try:
        task = await lock_task(session, reminder.task_id)
    except NotFound:
        return
    if reminder.payload.get("after_wave", task.waves) != task.waves:
        return  # another wave went out meanwhile, with its own follow-up
    if await _case_closed(session, task):
        return
    await send_wave(session, task, now=now, policy=policy)


async def reminder_due(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: TaskPolicy) -> None:
    """The day-before and hour-before reminder, with "still coming?" buttons; nothing if the place is gone."""
    if reminder.task_id is None:
        return
    try:
        task = await lock_task(session, reminder.task_id)
    except NotFound:
        return
    assignment = await session.get(TaskAssignment, int(reminder.payload.get("assignment", 0)), populate_existing=True)
    if (task.status is not TaskStatus.OPEN or task.starts_at <= now or assignment is None
            or assignment.status is not AssignmentStatus.ACCEPTED or assignment.task_id != task.id
            or await _case_closed(session, task)):
        return
    volunteer = await session.get(Volunteer, assignment.volunteer_id, populate_existing=True)
    if volunteer is None or volunteer.status is not VolunteerStatus.APPROVED:
        return
    person = await _person(session, assignment.volunteer_id)
    buttons = [NoticeButton(N_("✅ Still coming"), "task.confirm", assignment.id),
               NoticeButton(N_("↩️ I can't come"), "task.withdraw", assignment.id)]
    if task.starts_at - now <= timedelta(hours=1):  # the last one: check-in opens half an hour before the start
        buttons.append(NoticeButton(N_("📍 Check in"), "record.checkin", assignment.id))
    enqueue(session, Notice(person, N_("⏰ Reminder: “{title}” starts at {start}, at {place} ({community}). Are you "
                                       "still coming?"), _about(task), tuple(buttons)), now=now)


HANDLERS = {TASK_WAVE: wave_due, TASK_REMINDER: reminder_due}
