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

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.dispatch import haversine_km
from bot.services.errors import N_, InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.notices import Notice, NoticeButton, enqueue, timestamp
from bot.services.tasks import TaskPolicy, lock_task, may_manage, own_assignment
from models import (
    COUNTED,
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
VERIFY_DUE = "record_verify_due"
VERIFY_WORKING_DAYS = 10  # the 2020 measures: recorded within ten working days of the service
REASON_MAX = 300
MAX_MINUTES = 24 * 60
# What the social worker still has to decide; and what a volunteer may ask to correct.
TO_VERIFY = (RecordStatus.PENDING, RecordStatus.CORRECTION, RecordStatus.NO_CHECKOUT)
DECIDED = (RecordStatus.VERIFIED, RecordStatus.ADJUSTED, RecordStatus.REJECTED)


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
    return await own_assignment(session, user, assignment_id, missing=N_("This task could not be found."),
                                foreign=N_("This task is someone else's."))


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
    _schedule_verification(session, task, record, now=now)
    owner = await session.get(User, task.created_by_id)
    volunteer = await session.get(Volunteer, user.id)
    enqueue(session, Notice(owner, N_("🏁 {name} checked out of “{title}”: {hours} hours to verify."),
                            {"name": volunteer.real_name if volunteer else user.display_name, "title": task.title,
                             "hours": str(hours(minutes))},
                            (NoticeButton(N_("🧾 Verify"), "record.review", record.id),)), now=now)
    return record


def working_days_after(moment: datetime, days: int, tz: str) -> datetime:
    """The same local time `days` working days (Monday to Friday) later; public holidays are not known here."""
    local = moment.astimezone(ZoneInfo(tz))
    left = days
    while left:
        local += timedelta(days=1)
        if local.weekday() < 5:
            left -= 1
    return local.astimezone(moment.tzinfo)


def _schedule_verification(session: AsyncSession, task: VolunteerTask, record: ServiceRecord, *,
                           now: datetime) -> None:
    session.add(Reminder(kind=VERIFY_DUE, due_at=working_days_after(now, VERIFY_WORKING_DAYS, task.community.timezone),
                         task_id=task.id, user_id=task.created_by_id, payload={"record": record.id}, created_at=now))


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


# --- verification ---------------------------------------------------------------------------------------------


async def _require_verifier(session: AsyncSession, actor: User, task: VolunteerTask) -> None:
    if not await may_manage(session, actor, task):
        raise PermissionDenied(N_("Only the task's social worker, a supervisor or a coordinator can verify its "
                                  "records."))


async def _reviewable(session: AsyncSession, actor: User, record_id: int) -> tuple[VolunteerTask, ServiceRecord]:
    task_id = await session.scalar(select(ServiceRecord.task_id).where(ServiceRecord.id == record_id))
    if task_id is None:
        raise NotFound(N_("This service record could not be found."))
    task = await lock_task(session, task_id)
    await _require_verifier(session, actor, task)
    record = await session.get(ServiceRecord, record_id, populate_existing=True)
    assert record is not None
    return task, record


def check_reason(text: str | None) -> str:
    words = " ".join((text or "").split())
    if not words:
        raise InvalidInput(N_("Please give the reason in a few words: the volunteer reads it."))
    if len(words) > REASON_MAX:
        raise InvalidInput(N_("Please keep the reason within {limit} characters."), limit=REASON_MAX)
    return words


def check_minutes(value: int) -> int:
    if value < 1:
        raise InvalidInput(N_("The hours must be more than zero; to count nothing, reject the record."))
    if value > MAX_MINUTES:
        raise InvalidInput(N_("At most {hours} hours can be recorded for one task."), hours=MAX_MINUTES // 60)
    return value


async def _decide(session: AsyncSession, actor: User, record_id: int, status: RecordStatus, *, now: datetime,
                  minutes: int | None = None, reason: str | None = None) -> tuple[VolunteerTask, ServiceRecord]:
    task, record = await _reviewable(session, actor, record_id)
    if record.status in DECIDED:
        raise InvalidState(N_("This record was already decided; the volunteer may ask for a correction."))
    if record.status is RecordStatus.CHECKED_IN:
        raise InvalidState(N_("The volunteer has not checked out yet: decide once they have."))
    if status is RecordStatus.VERIFIED and record.minutes is None:
        raise InvalidState(N_("There is no check-out to verify: set the hours served with “Adjust”."))
    record.status = status
    record.verified_minutes = minutes if status is RecordStatus.ADJUSTED else (
        record.minutes if status is RecordStatus.VERIFIED else None)
    record.reason = reason
    record.verified_by_id = actor.id
    record.verified_at = now
    record.updated_at = now
    await _cancel_verification_reminders(session, record, now=now)
    person = await session.get(User, record.volunteer_id)
    params = {"title": task.title, "date": timestamp(task.starts_at), "reason": reason or "",
              "hours": str(hours(record.verified_minutes or 0)), "served": str(hours(record.minutes or 0))}
    fix = (NoticeButton(N_("✍️ Ask for a correction"), "record.correct", record.id),)
    if status is RecordStatus.VERIFIED:
        notice = Notice(person, N_("✅ Your {hours} hours for “{title}” ({date}) are verified and on your record. "
                                   "Thank you!"), params)
    elif status is RecordStatus.ADJUSTED:
        notice = Notice(person, N_("✏️ Your hours for “{title}” ({date}) were set to {hours} (you recorded "
                                   "{served}): “{reason}”."), params, fix)
    else:
        notice = Notice(person, N_("✖️ Your record for “{title}” ({date}) is not counted: “{reason}”."), params, fix)
    enqueue(session, notice, now=now)
    return task, record


async def verify(session: AsyncSession, actor: User, record_id: int, *, now: datetime) -> ServiceRecord:
    """The minutes served count as recorded."""
    return (await _decide(session, actor, record_id, RecordStatus.VERIFIED, now=now))[1]


async def adjust(session: AsyncSession, actor: User, record_id: int, minutes: int, reason: str | None, *,
                 now: datetime) -> ServiceRecord:
    """Other minutes count than were recorded (or, without a check-out, the minutes served at all), and why."""
    return (await _decide(session, actor, record_id, RecordStatus.ADJUSTED, now=now, minutes=check_minutes(minutes),
                          reason=check_reason(reason)))[1]


async def reject(session: AsyncSession, actor: User, record_id: int, reason: str | None, *,
                 now: datetime) -> ServiceRecord:
    return (await _decide(session, actor, record_id, RecordStatus.REJECTED, now=now, reason=check_reason(reason)))[1]


async def request_correction(session: AsyncSession, user: User, record_id: int, note: str | None, *,
                             now: datetime) -> ServiceRecord:
    """The volunteer disagrees with a decision: the record goes back to the social worker with their words."""
    words = check_reason(note)
    task_id = await session.scalar(select(ServiceRecord.task_id).where(ServiceRecord.id == record_id))
    if task_id is None:
        raise NotFound(N_("This service record could not be found."))
    task = await lock_task(session, task_id)
    record = await session.get(ServiceRecord, record_id, populate_existing=True)
    if record is None or record.volunteer_id != user.id:
        raise PermissionDenied(N_("This record is someone else's."))
    if record.status not in DECIDED:
        raise InvalidState(N_("This record is still with the social worker: you will be told when it is decided."))
    record.status = RecordStatus.CORRECTION
    record.correction_note = words
    record.updated_at = now
    _schedule_verification(session, task, record, now=now)
    owner = await session.get(User, task.created_by_id)
    volunteer = await session.get(Volunteer, user.id)
    enqueue(session, Notice(owner, N_("✍️ {name} asks for a correction of their record for “{title}”: “{note}”."),
                            {"name": volunteer.real_name if volunteer else user.display_name, "title": task.title,
                             "note": words}, (NoticeButton(N_("🧾 Verify"), "record.review", record.id),)), now=now)
    return record


async def to_verify(session: AsyncSession, actor: User, task_id: int) -> list[tuple[ServiceRecord, Volunteer]]:
    """A task's records waiting for a decision (checked out, not checked out, or asked to correct)."""
    task = await session.get(VolunteerTask, task_id)
    if task is None:
        raise NotFound(N_("This task could not be found."))
    await _require_verifier(session, actor, task)
    rows = (await session.execute(
        select(ServiceRecord, Volunteer).join(Volunteer, Volunteer.user_id == ServiceRecord.volunteer_id)
        .where(ServiceRecord.task_id == task_id, ServiceRecord.status.in_(TO_VERIFY))
        .order_by(ServiceRecord.checked_in_at).execution_options(populate_existing=True)
    )).all()
    return [(r, v) for r, v in rows]


async def for_review(session: AsyncSession, actor: User, record_id: int) -> tuple[VolunteerTask, ServiceRecord,
                                                                                   Volunteer]:
    record = await session.get(ServiceRecord, record_id, populate_existing=True)
    if record is None:
        raise NotFound(N_("This service record could not be found."))
    task = await session.get(VolunteerTask, record.task_id)
    await _require_verifier(session, actor, task)
    volunteer = await session.get(Volunteer, record.volunteer_id)
    return task, record, volunteer


async def _cancel_verification_reminders(session: AsyncSession, record: ServiceRecord, *, now: datetime) -> None:
    await session.execute(update(Reminder).where(
        Reminder.task_id == record.task_id, Reminder.kind == VERIFY_DUE, Reminder.status == ReminderStatus.PENDING,
        Reminder.payload["record"].as_integer() == record.id,
    ).values(status=ReminderStatus.CANCELLED, done_at=now).execution_options(synchronize_session=False))


# --- a volunteer's hours -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """What /hours shows: verified minutes in all and this year, and the latest records with their state."""

    total_minutes: int
    year_minutes: int
    year: int
    waiting: int  # records not decided yet (their minutes do not count)
    latest: list[tuple[ServiceRecord, VolunteerTask]]


async def summary(session: AsyncSession, user: User, *, now: datetime, tz: str, limit: int = 20) -> Summary:
    """Only verified (or adjusted) minutes count; "this year" is the local calendar year of the service."""
    year = now.astimezone(ZoneInfo(tz)).year
    start_of_year = datetime(year, 1, 1, tzinfo=ZoneInfo(tz))
    counted = select(func.coalesce(func.sum(ServiceRecord.verified_minutes), 0)).where(
        ServiceRecord.volunteer_id == user.id, ServiceRecord.status.in_(COUNTED))
    total = await session.scalar(counted) or 0
    this_year = await session.scalar(counted.where(ServiceRecord.checked_in_at >= start_of_year)) or 0
    waiting = await session.scalar(select(func.count()).select_from(ServiceRecord).where(
        ServiceRecord.volunteer_id == user.id, ServiceRecord.status.in_((*TO_VERIFY, RecordStatus.CHECKED_IN)))) or 0
    rows = (await session.execute(
        select(ServiceRecord, VolunteerTask).join(VolunteerTask, VolunteerTask.id == ServiceRecord.task_id)
        .where(ServiceRecord.volunteer_id == user.id).order_by(ServiceRecord.checked_in_at.desc()).limit(limit)
    )).all()
    return Summary(int(total), int(this_year), year, int(waiting), [(r, t) for r, t in rows])


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
    _schedule_verification(session, task, record, now=now)
    person = await session.get(User, record.volunteer_id)
    volunteer = await session.get(Volunteer, record.volunteer_id)
    owner = await session.get(User, task.created_by_id)
    enqueue(session,
            Notice(owner, N_("⚠️ {name} checked in to “{title}” at {since} but never checked out. Please set the "
                             "hours served when you verify the record."),
                   {"name": volunteer.real_name if volunteer else person.display_name, "title": task.title,
                    "since": timestamp(record.checked_in_at)},
                   (NoticeButton(N_("🧾 Verify"), "record.review", record.id),)),
            Notice(person, N_("You did not check out of “{title}”. Your hours are not counted until the social "
                              "worker confirms them; you will be told."), {"title": task.title}),
            now=now)


async def verify_due(session: AsyncSession, reminder: Reminder, *, now: datetime, policy: TaskPolicy) -> None:
    """Ten working days and still undecided: the social worker and the station's supervisors are told."""
    if reminder.task_id is None:
        return
    try:
        task = await lock_task(session, reminder.task_id)
    except NotFound:
        return
    record = await session.get(ServiceRecord, int(reminder.payload.get("record", 0)), populate_existing=True)
    if record is None or record.status not in TO_VERIFY:
        return
    from bot.services.cases import supervisors

    volunteer = await session.get(Volunteer, record.volunteer_id)
    owner = await session.get(User, task.created_by_id)
    told = {owner.id: owner, **{u.id: u for u in await supervisors(session, task.community_id)}}
    enqueue(session, *(Notice(u, N_("⏰ {name}'s service record for “{title}” has waited {days} working days: the "
                                    "rules ask for it to be recorded by now. Please verify it."),
                              {"name": volunteer.real_name if volunteer else "—", "title": task.title,
                               "days": VERIFY_WORKING_DAYS},
                              (NoticeButton(N_("🧾 Verify"), "record.review", record.id),)) for u in told.values()),
            now=now)


HANDLERS = {CHECKOUT_DUE: checkout_due, CHECKOUT_MISSING: checkout_missing, VERIFY_DUE: verify_due}
