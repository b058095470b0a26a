"""Check-in and check-out: a volunteer's service record from arrival to the minutes served.

Check-in opens `CHECKIN_EARLY` (30 minutes) before a task starts and closes at its end;
only a volunteer holding a place may check in, once. A shared location is compared with
the task's place: farther than `TaskPolicy.far_metres` is flagged for the social worker,
never refused. Check-out records the minutes served; a forgotten one is reminded at the
task's end (`record_checkout_due`) and, `TaskPolicy.checkout_grace_minutes` later, flagged
for the social worker (`record_checkout_missing`): such a record counts nothing until the
social worker sets its hours. Every path locks the task first, as `bot.services.tasks` does.

Hours: the minutes between check-in and check-out, whole minutes (seconds dropped), in
UTC, so a session across midnight or a time-zone change counts what really passed.
Shown as hours with one decimal, rounded half up (95 minutes: 1.6 hours); totals add the
minutes first and round once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.dispatch import haversine_km
from bot.services.errors import N_, InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.notices import Notice, NoticeButton, enqueue, timestamp
from bot.services.tasks import TaskPolicy, lock_task
from models import (
    AssignmentStatus,
    RecordStatus,
    Reminder,
    ReminderStatus,
    ServiceRecord,
    TaskAssignment,
    TaskStatus,
    User,
    Volunteer,
    VolunteerTask,
)

CHECKIN_EARLY = timedelta(minutes=30)
CHECKOUT_DUE = "record_checkout_due"
CHECKOUT_MISSING = "record_checkout_missing"


def hours(minutes: int) -> Decimal:
    """Minutes as hours with one decimal, rounded half up: 95 → 1.6, 45 → 0.8."""
    return (Decimal(minutes) / Decimal(60)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def served_minutes(checked_in_at: datetime, checked_out_at: datetime) -> int:
    """Whole minutes between two moments (aware datetimes: across midnight and zones alike)."""
    return int((checked_out_at - checked_in_at).total_seconds() // 60)


async def open_for_checkin(session: AsyncSession, user: User, *, now: datetime) -> list[tuple[TaskAssignment,
                                                                                            VolunteerTask]]:
    """The volunteer's places whose check-in is open now and who have not checked in yet."""
    rows = (await session.execute(
        select(TaskAssignment, VolunteerTask).join(VolunteerTask, VolunteerTask.id == TaskAssignment.task_id)
        .outerjoin(ServiceRecord, ServiceRecord.assignment_id == TaskAssignment.id)
        .where(TaskAssignment.volunteer_id == user.id, TaskAssignment.status == AssignmentStatus.ACCEPTED,
               VolunteerTask.status == TaskStatus.OPEN, VolunteerTask.starts_at <= now + CHECKIN_EARLY,
               VolunteerTask.ends_at > now, ServiceRecord.id.is_(None))
        .order_by(VolunteerTask.starts_at)
    )).all()
    return [(a, t) for a, t in rows]


async def open_records(session: AsyncSession, user: User) -> list[tuple[ServiceRecord, VolunteerTask]]:
    """The volunteer's records still waiting for a check-out."""
    rows = (await session.execute(
        select(ServiceRecord, VolunteerTask).join(VolunteerTask, VolunteerTask.id == ServiceRecord.task_id)
        .where(ServiceRecord.volunteer_id == user.id, ServiceRecord.status == RecordStatus.CHECKED_IN)
        .order_by(ServiceRecord.checked_in_at)
    )).all()
    return [(r, t) for r, t in rows]


async def _place_of(session: AsyncSession, user: User, assignment_id: int) -> tuple[VolunteerTask, TaskAssignment]:
    task_id = await session.scalar(select(TaskAssignment.task_id).where(TaskAssignment.id == assignment_id))
    if task_id is None:
        raise NotFound(N_("This task could not be found."))
    task = await lock_task(session, task_id)
    assignment = await session.get(TaskAssignment, assignment_id, populate_existing=True)
    if assignment is None or assignment.volunteer_id != user.id:
        raise PermissionDenied(N_("This task is someone else's."))
    return task, assignment


async def _record(session: AsyncSession, assignment_id: int) -> ServiceRecord | None:
    return await session.scalar(select(ServiceRecord).where(ServiceRecord.assignment_id == assignment_id)
                                .execution_options(populate_existing=True))


async def check_checkin(session: AsyncSession, user: User, assignment_id: int, *, now: datetime) -> VolunteerTask:
    """Whether the volunteer may check in to this place now (refused with what to do otherwise)."""
    task, assignment = await _place_of(session, user, assignment_id)
    if task.status is TaskStatus.CANCELLED:
        raise InvalidState(N_("“{title}” was cancelled."), title=task.title)
    if assignment.status is not AssignmentStatus.ACCEPTED:
        raise InvalidState(N_("You have no place in “{title}”: only volunteers with a place can check in."),
                           title=task.title)
    existing = await _record(session, assignment.id)
    if existing is not None:
        raise InvalidState(N_("You already checked in to “{title}”."), title=task.title)
    if now < task.starts_at - CHECKIN_EARLY:
        raise InvalidState(N_("Too early: check-in for “{title}” opens 30 minutes before it starts."),
                           title=task.title)
    if now >= task.ends_at:
        raise InvalidState(N_("“{title}” has ended: check-in is closed. If you served, tell the social worker."),
                           title=task.title)
    return task


async def check_in(session: AsyncSession, user: User, assignment_id: int, *, now: datetime, policy: TaskPolicy,
                   location: tuple[float, float] | None = None) -> ServiceRecord:
    task = await check_checkin(session, user, assignment_id, now=now)
    distance = None
    if location is not None:
        latitude, longitude = location
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise InvalidInput(N_("This location cannot be used. Please share it again from the map."))
        if task.latitude is not None and task.longitude is not None:
            distance = round(haversine_km(latitude, longitude, task.latitude, task.longitude) * 1000)
    far = distance is not None and distance > policy.far_metres
    record = ServiceRecord(
        assignment_id=assignment_id, task_id=task.id, volunteer_id=user.id, status=RecordStatus.CHECKED_IN,
        checked_in_at=now, latitude=location[0] if location else None, longitude=location[1] if location else None,
        distance_m=distance, flagged="far" if far else None, created_at=now, updated_at=now,
    )
    session.add(record)
    await session.flush()
    for kind, due_at in ((CHECKOUT_DUE, task.ends_at),
                         (CHECKOUT_MISSING, task.ends_at + timedelta(minutes=policy.checkout_grace_minutes))):
        session.add(Reminder(kind=kind, due_at=max(due_at, now), task_id=task.id, user_id=user.id,
                             payload={"record": record.id}, created_at=now))
    if far:
        owner = await session.get(User, task.created_by_id)
        volunteer = await session.get(Volunteer, user.id)
        enqueue(session, Notice(owner, N_("⚠️ {name} checked in to “{title}” {distance} from its place."),
                                {"name": volunteer.real_name if volunteer else user.display_name,
                                 "title": task.title, "distance": distance_text(distance)},
                                (NoticeButton(N_("📋 Open task"), "task.view", task.id),)), now=now)
    return record


def distance_text(metres: int) -> str:
    return f"{metres} m" if metres < 1000 else f"{metres / 1000:.1f} km"


async def check_out(session: AsyncSession, user: User, assignment_id: int, *, now: datetime) -> ServiceRecord:
    task, _assignment = await _place_of(session, user, assignment_id)
    record = await _record(session, assignment_id)
    if record is None:
        raise InvalidState(N_("You have not checked in to “{title}”, so there is nothing to check out of."),
                           title=task.title)
    if record.status is RecordStatus.NO_CHECKOUT:
        raise InvalidState(N_("The check-out for “{title}” was too late to record: the social worker will confirm "
                              "your hours."), title=task.title)
    if record.status is not RecordStatus.CHECKED_IN:
        raise InvalidState(N_("You already checked out of “{title}”."), title=task.title)
    minutes = served_minutes(record.checked_in_at, now)
    if minutes < 1:
        raise InvalidInput(N_("You checked in less than a minute ago: check out when you finish."))
    record.status = RecordStatus.PENDING
    record.checked_out_at = now
    record.minutes = minutes
    record.updated_at = now
    await _cancel_checkout_reminders(session, record, now=now)
    owner = await session.get(User, task.created_by_id)
    volunteer = await session.get(Volunteer, user.id)
    enqueue(session, Notice(owner, N_("🏁 {name} checked out of “{title}”: {hours} hours to verify."),
                            {"name": volunteer.real_name if volunteer else user.display_name, "title": task.title,
                             "hours": str(hours(minutes))},
                            (NoticeButton(N_("📋 Open task"), "task.view", task.id),)), now=now)
    return record


async def _cancel_checkout_reminders(session: AsyncSession, record: ServiceRecord, *, now: datetime) -> None:
    pending = select(Reminder.id).where(Reminder.task_id == record.task_id, Reminder.user_id == record.volunteer_id,
                                        Reminder.kind.in_((CHECKOUT_DUE, CHECKOUT_MISSING)),
                                        Reminder.status == ReminderStatus.PENDING)
    if session.get_bind().dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    await session.execute(update(Reminder).where(Reminder.id.in_(pending), Reminder.status == ReminderStatus.PENDING)
                          .values(status=ReminderStatus.CANCELLED, done_at=now)
                          .execution_options(synchronize_session=False))


async def records_of_task(session: AsyncSession, task_id: int) -> dict[int, ServiceRecord]:
    """A task's records by volunteer, for its card."""
    rows = (await session.scalars(select(ServiceRecord).where(ServiceRecord.task_id == task_id)
                                  .execution_options(populate_existing=True))).all()
    return {r.volunteer_id: r for r in rows}


# --- reminders -------------------------------------------------------------------------------------------------


async def _still_in(session: AsyncSession, reminder: Reminder) -> tuple[VolunteerTask, ServiceRecord] | None:
    if reminder.task_id is None:
        return None
    try:
        task = await lock_task(session, reminder.task_id)
    except NotFound:
        return None
    record = await session.get(ServiceRecord, int(reminder.payload.get("record", 0)), populate_existing=True)
    if record is None or record.status is not RecordStatus.CHECKED_IN:
        return None  # checked out meanwhile
    return task, record


async def checkout_due(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: TaskPolicy) -> None:
    """The task has ended and the volunteer has not checked out: a reminder with the button."""
    found = await _still_in(session, reminder)
    if found is None:
        return
    task, record = found
    person = await session.get(User, record.volunteer_id)
    enqueue(session, Notice(person, N_("🏁 “{title}” has ended. Please check out now, so your hours are recorded "
                                       "(checked in at {since})."), {"title": task.title,
                                                                     "since": timestamp(record.checked_in_at)},
                            (NoticeButton(N_("🏁 Check out"), "record.checkout", record.assignment_id),)), now=now)


async def checkout_missing(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: TaskPolicy) -> None:
    """Still no check-out after the grace period: flagged for the social worker, counted as nothing meanwhile."""
    found = await _still_in(session, reminder)
    if found is None:
        return
    task, record = found
    record.status = RecordStatus.NO_CHECKOUT
    record.flagged = "no_checkout"
    record.updated_at = now
    person = await session.get(User, record.volunteer_id)
    volunteer = await session.get(Volunteer, record.volunteer_id)
    owner = await session.get(User, task.created_by_id)
    enqueue(session,
            Notice(owner, N_("⚠️ {name} checked in to “{title}” at {since} but never checked out. Please set the "
                             "hours served when you verify the record."),
                   {"name": volunteer.real_name if volunteer else person.display_name, "title": task.title,
                    "since": timestamp(record.checked_in_at)},
                   (NoticeButton(N_("📋 Open task"), "task.view", task.id),)),
            Notice(person, N_("You did not check out of “{title}”. Your hours are not counted until the social "
                              "worker confirms them; you will be told."), {"title": task.title}),
            now=now)


HANDLERS = {CHECKOUT_DUE: checkout_due, CHECKOUT_MISSING: checkout_missing}
