"""Volunteer tasks as services: ranking on a hand-built world, no double booking, waves, the waitlist,
reminders that fire once and never after a withdrawal or a cancellation, permissions."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import dispatch, tasks, users
from bot.services.errors import InvalidInput, InvalidState, PermissionDenied
from bot.services.tasks import TaskForm, TaskPolicy
from bot.services.world import SampleWorld
from models import (
    AssignmentStatus,
    Community,
    IdDocument,
    OutgoingMessage,
    Reminder,
    ReminderStatus,
    Role,
    Sex,
    TaskAssignment,
    TaskKind,
    TaskStatus,
    User,
    UserRole,
    Volunteer,
    VolunteerAvailability,
    VolunteerStatus,
    VolunteerTask,
)
from tests.conftest import CLOCK, next_telegram_id

TZ = ZoneInfo("Asia/Shanghai")
POLICY = TaskPolicy(wave_minutes=60, reminder_minutes=(1440, 60))


def next_saturday(hour: int, minute: int = 0, *, weeks: int = 1) -> datetime:
    """A Saturday at least four days ahead of the test clock, local time, as UTC."""
    today = CLOCK.now().astimezone(TZ).date()
    day = today + timedelta(days=(5 - today.weekday()) % 7 + 7 * weeks)
    return datetime.combine(day, time(hour, minute), TZ).astimezone(ZoneInfo("UTC"))


async def make_volunteer(
    session: AsyncSession, name: str, community: Community, *, skills: tuple[str, ...] = ("errands",),
    windows: tuple[tuple[int, time, time], ...] = ((5, time(8), time(12)),),
    status: VolunteerStatus = VolunteerStatus.APPROVED, location: tuple[float, float] | None = None,
    offered_at: datetime | None = None,
) -> User:
    """An approved volunteer without going through registration (that has its own tests)."""
    now = CLOCK.now()
    person = await users.touch_user(session, users.TelegramProfile(next_telegram_id(), name), now=now)
    person.real_name = name
    person.community_id = community.id
    session.add(Volunteer(
        user_id=person.id, real_name=name, sex=Sex.FEMALE, birth_date=datetime(1980, 1, 1).date(),
        id_type=IdDocument.PASSPORT, id_number_masked="*****1234", phone="+8613900000000",
        community_id=community.id, skills=list(skills), interests=[], consent_at=now, status=status,
        volunteer_number=f"ZY{person.id:010d}" if status is not VolunteerStatus.PENDING else None,
        latitude=location[0] if location else None, longitude=location[1] if location else None,
        last_offered_at=offered_at or now - timedelta(days=30), created_at=now, updated_at=now,
    ))
    for weekday, start, end in windows:
        session.add(VolunteerAvailability(volunteer_id=person.id, weekday=weekday, starts_at=start, ends_at=end))
    if status is not VolunteerStatus.PENDING:
        session.add(UserRole(user_id=person.id, role=Role.VOLUNTEER, granted_at=now))
    await session.flush()
    return person


async def place_of(session: AsyncSession, world: SampleWorld, name: str) -> Community:
    community = await session.get(Community, world.communities[name].id)
    assert community is not None
    return community


async def worker(session: AsyncSession, world: SampleWorld, key: str = "li_jing") -> User:
    person = await session.get(User, world.people[key].id)
    assert person is not None
    return person


def form(**changes: object) -> TaskForm:
    values: dict[str, object] = dict(
        kind=TaskKind.COMMUNITY, title="重阳节敬老活动", place="晨光社区活动中心", starts_at=next_saturday(9),
        ends_at=next_saturday(11), needed=1, skills=("errands",),
    )
    values.update(changes)
    return TaskForm(**values)  # type: ignore[arg-type]


async def statuses(session: AsyncSession, task_id: int) -> dict[int, AssignmentStatus]:
    rows = (await session.execute(select(TaskAssignment.volunteer_id, TaskAssignment.status)
                                  .where(TaskAssignment.task_id == task_id)
                                  .execution_options(populate_existing=True))).all()
    return dict(rows)


async def assignment(session: AsyncSession, task_id: int, volunteer: User) -> TaskAssignment:
    row = await session.scalar(select(TaskAssignment).where(TaskAssignment.task_id == task_id,
                                                            TaskAssignment.volunteer_id == volunteer.id)
                               .execution_options(populate_existing=True))
    assert row is not None
    return row


# --- ranking --------------------------------------------------------------------------------------------------


async def test_ranking_applies_the_hard_rules_then_the_soft_ones_in_order(world: SampleWorld,
                                                                         session: AsyncSession) -> None:
    chenguang, taoyuan = await place_of(session, world, "晨光社区"), await place_of(session, world, "桃园社区")
    liulin = await place_of(session, world, "柳林村")
    here = (37.8700, 112.5500)
    near = await make_volunteer(session, "近邻", chenguang, location=(37.8710, 112.5510))  # ~0.1 km
    far = await make_volunteer(session, "远处", chenguang, location=(37.9500, 112.5500))  # ~9 km
    unknown = await make_volunteer(session, "未知", chenguang)  # no location: the 4–6 km band
    neighbour = await make_volunteer(session, "邻社区", taoyuan, location=here)  # same street, other community
    await make_volunteer(session, "别的乡", liulin, location=here)  # another township: never offered
    await make_volunteer(session, "待审", chenguang, status=VolunteerStatus.PENDING, location=here)
    await make_volunteer(session, "暂停", chenguang, status=VolunteerStatus.SUSPENDED, location=here)
    await make_volunteer(session, "没空", chenguang, windows=((5, time(14), time(17)),), location=here)
    await make_volunteer(session, "周日", chenguang, windows=((6, time(8), time(12)),), location=here)
    await make_volunteer(session, "不会", chenguang, skills=("cooking",), location=here)
    booked = await make_volunteer(session, "已约", chenguang, location=here)
    li_jing = await worker(session, world)
    # 已约 holds a place in another task at an overlapping time.
    other, _ = await tasks.create(session, li_jing, form(title="别的活动", starts_at=next_saturday(10),
                                                        ends_at=next_saturday(12), skills=()), now=CLOCK.now(),
                                  policy=POLICY)
    await session.execute(TaskAssignment.__table__.delete().where(TaskAssignment.task_id == other.id))
    session.add(TaskAssignment(task_id=other.id, volunteer_id=booked.id, status=AssignmentStatus.ACCEPTED,
                               offered_at=CLOCK.now(), answered_at=CLOCK.now(), placed_at=CLOCK.now()))
    task = VolunteerTask(kind=TaskKind.COMMUNITY, title="t", place="p", latitude=here[0], longitude=here[1],
                         starts_at=next_saturday(9), ends_at=next_saturday(11), needed=2, skills=["errands"],
                         community_id=chenguang.id, community=chenguang, created_by_id=li_jing.id,
                         created_at=CLOCK.now(), updated_at=CLOCK.now())
    session.add(task)
    await session.flush()

    ranked = await dispatch.rank(session, task, now=CLOCK.now())
    assert [c.name for c in ranked] == ["近邻", "未知", "远处", "邻社区"]
    assert ranked[0].distance_km is not None and ranked[0].distance_km < 0.5
    assert ranked[1].distance_km is None and ranked[2].distance_km > 8
    assert [near.id, unknown.id, far.id, neighbour.id] == [c.volunteer_id for c in ranked]


async def test_fewer_recent_hours_then_reliability_then_rotation_break_ties(world: SampleWorld,
                                                                           session: AsyncSession) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    li_jing = await worker(session, world)
    busy = await make_volunteer(session, "忙碌", chenguang)
    flaky = await make_volunteer(session, "爽约", chenguang)
    steady = await make_volunteer(session, "可靠", chenguang)
    fresh_a = await make_volunteer(session, "新甲", chenguang, offered_at=CLOCK.now() - timedelta(days=2))
    fresh_b = await make_volunteer(session, "新乙", chenguang, offered_at=CLOCK.now() - timedelta(days=9))
    now = CLOCK.now()

    async def past(volunteer: User, days_ago: int, hours: int, status: AssignmentStatus) -> None:
        start = now - timedelta(days=days_ago)
        done = VolunteerTask(kind=TaskKind.COMMUNITY, title="旧", place="p", starts_at=start,
                             ends_at=start + timedelta(hours=hours), needed=1, skills=[], community_id=chenguang.id,
                             created_by_id=li_jing.id, created_at=start, updated_at=start)
        session.add(done)
        await session.flush()
        session.add(TaskAssignment(task_id=done.id, volunteer_id=volunteer.id, status=status, offered_at=start,
                                   answered_at=start, placed_at=start))

    await past(busy, 5, 6, AssignmentStatus.ACCEPTED)  # 6 hours in the last 30 days
    await past(flaky, 60, 2, AssignmentStatus.WITHDRAWN)  # 0 of 1 kept: reliability 1/3
    await past(steady, 60, 2, AssignmentStatus.ACCEPTED)  # 1 of 1 kept: 2/3
    task = VolunteerTask(kind=TaskKind.COMMUNITY, title="t", place="p", starts_at=next_saturday(9),
                         ends_at=next_saturday(11), needed=3, skills=["errands"], community_id=chenguang.id,
                         community=chenguang, created_by_id=li_jing.id, created_at=now, updated_at=now)
    session.add(task)
    await session.flush()
    ranked = await dispatch.rank(session, task, now=now)
    assert [c.name for c in ranked] == ["可靠", "新乙", "新甲", "爽约", "忙碌"]
    assert {fresh_a.id, fresh_b.id} <= {c.volunteer_id for c in ranked}


# --- creating, waves and answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"needed": 0}, "at least one volunteer"),
        ({"needed": "两"}, "as a number"),
        ({"title": "  "}, "short title"),
        ({"place": "x" * 201}, "within {limit}"),
        ({"ends_at": lambda: next_saturday(8)}, "end must be after"),
        ({"starts_at": lambda: CLOCK.now() - timedelta(hours=1), "ends_at": lambda: CLOCK.now() + timedelta(hours=1)},
         "from now"),
        ({"ends_at": lambda: next_saturday(9) + timedelta(hours=13)}, "at most {hours} hours"),
        ({"skills": ("juggling",)}, "from the list"),
    ],
    ids=["zero-needed", "needed-words", "no-title", "long-place", "end-first", "past", "too-long", "skill"],
)
async def test_a_bad_task_is_refused_and_nothing_is_saved(world: SampleWorld, session: AsyncSession, changes,
                                                          says: str) -> None:
    # Times are computed when the test runs: the clock moves between tests.
    changes = {k: v() if callable(v) else v for k, v in changes.items()}
    with pytest.raises(InvalidInput) as caught:
        await tasks.create(session, await worker(session, world), form(**changes), now=CLOCK.now(), policy=POLICY)
    assert says in caught.value.message
    assert await session.scalar(select(func.count()).select_from(VolunteerTask)) == 0


async def test_only_social_workers_create_tasks_and_only_for_cases_they_hold(world: SampleWorld,
                                                                            session: AsyncSession) -> None:
    volunteer = await make_volunteer(session, "志愿者", await place_of(session, world, "晨光社区"))
    with pytest.raises(PermissionDenied):
        await tasks.create(session, volunteer, form(), now=CLOCK.now(), policy=POLICY)


async def test_waves_offer_twice_the_open_places_and_the_next_wave_follows(world: SampleWorld,
                                                                           session: AsyncSession) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    people = [await make_volunteer(session, f"志愿者{i}", chenguang,
                                   offered_at=CLOCK.now() - timedelta(days=30 - i)) for i in range(7)]
    task, offered = await tasks.create(session, await worker(session, world), form(needed=2), now=CLOCK.now(),
                                       policy=POLICY)
    assert offered == 4 and task.waves == 1
    first = await statuses(session, task.id)
    assert set(first) == {p.id for p in people[:4]}  # offered longest ago first
    wave = await session.scalar(select(Reminder).where(Reminder.task_id == task.id, Reminder.kind == tasks.TASK_WAVE))
    assert wave.due_at == CLOCK.now() + timedelta(minutes=60)

    # One accepts: one place open, so the next wave offers two more.
    await tasks.accept(session, people[0], (await assignment(session, task.id, people[0])).id, now=CLOCK.now(),
                       policy=POLICY)
    await tasks.wave_due(session, wave, now=CLOCK.now() + timedelta(minutes=60), policy=POLICY)
    second = await statuses(session, task.id)
    assert set(second) - set(first) == {people[4].id, people[5].id}

    # Everyone still offered declines: the third wave goes out at once.
    for person in people[1:6]:
        await tasks.decline(session, person, (await assignment(session, task.id, person)).id, now=CLOCK.now(),
                            policy=POLICY)
    third = await statuses(session, task.id)
    assert third[people[6].id] is AssignmentStatus.OFFERED

    # Nobody left: the owner hears so, once per empty wave.
    before = await session.scalar(select(func.count()).select_from(OutgoingMessage))
    await tasks.decline(session, people[6], (await assignment(session, task.id, people[6])).id, now=CLOCK.now(),
                        policy=POLICY)
    told = (await session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id).offset(before))).all()
    assert [m.template.startswith("Nobody more can be offered") for m in told] == [True]


async def test_the_waitlist_fills_a_withdrawn_place_in_order(world: SampleWorld, session: AsyncSession) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    a, b, c = [await make_volunteer(session, n, chenguang) for n in ("甲", "乙", "丙")]
    li_jing = await worker(session, world)
    task, _ = await tasks.create(session, li_jing, form(needed=1), now=CLOCK.now(), policy=POLICY)
    for person in (a, b, c):
        existing = await session.scalar(select(TaskAssignment).where(TaskAssignment.task_id == task.id,
                                                                     TaskAssignment.volunteer_id == person.id))
        if existing is None:
            session.add(TaskAssignment(task_id=task.id, volunteer_id=person.id, offered_at=CLOCK.now()))
    await session.flush()
    first = await tasks.accept(session, a, (await assignment(session, task.id, a)).id, now=CLOCK.now(), policy=POLICY)
    second = await tasks.accept(session, b, (await assignment(session, task.id, b)).id,
                                now=CLOCK.now() + timedelta(seconds=1), policy=POLICY)
    third = await tasks.accept(session, c, (await assignment(session, task.id, c)).id,
                               now=CLOCK.now() + timedelta(seconds=2), policy=POLICY)
    assert (first.position, second.position, third.position) == (None, 1, 2)
    with pytest.raises(InvalidState):  # a double press
        await tasks.accept(session, a, first.assignment.id, now=CLOCK.now(), policy=POLICY)

    await tasks.withdraw(session, a, first.assignment.id, now=CLOCK.now() + timedelta(minutes=5), policy=POLICY)
    after = await statuses(session, task.id)
    assert (after[a.id], after[b.id], after[c.id]) == (AssignmentStatus.WITHDRAWN, AssignmentStatus.ACCEPTED,
                                                       AssignmentStatus.WAITLISTED)
    # 乙 got the place with their own reminders; 甲's will never fire.
    reminders = (await session.scalars(select(Reminder).where(Reminder.task_id == task.id,
                                                              Reminder.kind == tasks.TASK_REMINDER))).all()
    assert {(r.user_id, r.status) for r in reminders} == {(a.id, ReminderStatus.CANCELLED),
                                                          (b.id, ReminderStatus.PENDING)}


async def test_no_double_booking_across_overlapping_tasks(world: SampleWorld, session: AsyncSession) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    person = await make_volunteer(session, "甲", chenguang)
    li_jing = await worker(session, world)
    morning, _ = await tasks.create(session, li_jing, form(needed=1), now=CLOCK.now(), policy=POLICY)
    overlapping, offered = await tasks.create(session, li_jing, form(title="另一个", starts_at=next_saturday(10),
                                                                     ends_at=next_saturday(12)), now=CLOCK.now(),
                                              policy=POLICY)
    assert offered == 1  # both offered while nothing is accepted yet
    await tasks.accept(session, person, (await assignment(session, morning.id, person)).id, now=CLOCK.now(),
                       policy=POLICY)
    with pytest.raises(InvalidState) as caught:
        await tasks.accept(session, person, (await assignment(session, overlapping.id, person)).id,
                           now=CLOCK.now(), policy=POLICY)
    assert caught.value.params == {"title": "重阳节敬老活动"}
    # A third task at that time is not even offered to them.
    _, offered = await tasks.create(session, li_jing, form(title="第三个"), now=CLOCK.now(), policy=POLICY)
    assert offered == 0
    # Back to back is fine.
    _, offered = await tasks.create(session, li_jing, form(title="之后", starts_at=next_saturday(11),
                                                           ends_at=next_saturday(12)), now=CLOCK.now(), policy=POLICY)
    assert offered == 1


async def test_pending_or_suspended_volunteers_get_no_offers_and_cannot_accept(world: SampleWorld,
                                                                              session: AsyncSession) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    person = await make_volunteer(session, "甲", chenguang)
    li_jing = await worker(session, world)
    task, _ = await tasks.create(session, li_jing, form(needed=1), now=CLOCK.now(), policy=POLICY)
    (await session.get(Volunteer, person.id)).status = VolunteerStatus.SUSPENDED
    with pytest.raises(PermissionDenied):
        await tasks.accept(session, person, (await assignment(session, task.id, person)).id, now=CLOCK.now(),
                           policy=POLICY)
    _, offered = await tasks.create(session, li_jing, form(title="二", starts_at=next_saturday(9, weeks=2),
                                                           ends_at=next_saturday(11, weeks=2)),
                                    now=CLOCK.now(), policy=POLICY)
    assert offered == 0


async def test_someone_else_cannot_answer_an_offer_or_manage_a_task(world: SampleWorld,
                                                                   session: AsyncSession) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    person = await make_volunteer(session, "甲", chenguang)
    other = await make_volunteer(session, "乙", chenguang, skills=("cooking",))
    li_jing = await worker(session, world)
    task, _ = await tasks.create(session, li_jing, form(needed=1), now=CLOCK.now(), policy=POLICY)
    mine = await assignment(session, task.id, person)
    for action in (tasks.accept, tasks.decline, tasks.withdraw):
        with pytest.raises(PermissionDenied):
            await action(session, other, mine.id, now=CLOCK.now(), policy=POLICY)
    chen_gang = await worker(session, world, "chen_gang")
    with pytest.raises(PermissionDenied):
        await tasks.cancel(session, other, task.id, "不办了", now=CLOCK.now())
    with pytest.raises(PermissionDenied):
        await tasks.add_directly(session, chen_gang, task.id, other.id, now=CLOCK.now(), policy=POLICY)
    assert (await statuses(session, task.id)) == {person.id: AssignmentStatus.OFFERED}


# --- reminders --------------------------------------------------------------------------------------------------


async def due_reminders(session: AsyncSession, task_id: int) -> list[Reminder]:
    return list((await session.scalars(select(Reminder).where(Reminder.task_id == task_id,
                                                              Reminder.kind == tasks.TASK_REMINDER)
                                       .order_by(Reminder.due_at)
                                       .execution_options(populate_existing=True))).all())


async def test_reminders_are_scheduled_a_day_and_an_hour_before_and_say_nothing_once_the_place_is_gone(
    world: SampleWorld, session: AsyncSession
) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    person = await make_volunteer(session, "甲", chenguang)
    li_jing = await worker(session, world)
    task, _ = await tasks.create(session, li_jing, form(needed=1), now=CLOCK.now(), policy=POLICY)
    await tasks.accept(session, person, (await assignment(session, task.id, person)).id, now=CLOCK.now(),
                       policy=POLICY)
    day_before, hour_before = await due_reminders(session, task.id)
    assert day_before.due_at == task.starts_at - timedelta(days=1)
    assert hour_before.due_at == task.starts_at - timedelta(hours=1)

    before = await session.scalar(select(func.count()).select_from(OutgoingMessage))
    await tasks.reminder_due(session, day_before, now=day_before.due_at, policy=POLICY)
    sent = (await session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id).offset(before))).all()
    assert [m.user_id for m in sent] == [person.id]
    assert [b["action"] for b in sent[0].buttons] == ["task.confirm", "task.withdraw"]

    await tasks.cancel(session, li_jing, task.id, "下雨", now=CLOCK.now())
    # Both rows (the test ran the day-before handler without the sweeper's claim) will never fire.
    assert [r.status for r in await due_reminders(session, task.id)] == [ReminderStatus.CANCELLED,
                                                                        ReminderStatus.CANCELLED]
    before = await session.scalar(select(func.count()).select_from(OutgoingMessage))
    await tasks.reminder_due(session, hour_before, now=hour_before.due_at, policy=POLICY)  # had it been claimed
    assert await session.scalar(select(func.count()).select_from(OutgoingMessage)) == before
    assert task.status is TaskStatus.CANCELLED


async def test_a_task_in_the_morning_matches_the_local_weekday_not_the_utc_one(world: SampleWorld,
                                                                               session: AsyncSession) -> None:
    """07:00 on a Saturday in Shanghai is 23:00 on Friday in UTC: availability is read in the community's zone."""
    chenguang = await place_of(session, world, "晨光社区")
    saturday = await make_volunteer(session, "周六早", chenguang, windows=((5, time(6), time(9)),))
    await make_volunteer(session, "周五晚", chenguang, windows=((4, time(22), time(23, 59)),))
    li_jing = await worker(session, world)
    task, _ = await tasks.create(session, li_jing, form(starts_at=next_saturday(7), ends_at=next_saturday(8),
                                                        needed=1), now=CLOCK.now(), policy=POLICY)
    assert task.starts_at.weekday() == 4  # Friday in UTC
    assert set(await statuses(session, task.id)) == {saturday.id}


async def test_when_the_resident_cancels_the_case_its_task_is_called_off(world: SampleWorld,
                                                                          session: AsyncSession) -> None:
    from bot.services import requests
    from models import ServiceCategory, ServiceRequest

    chenguang = await place_of(session, world, "晨光社区")
    person = await make_volunteer(session, "甲", chenguang)
    resident = await users.touch_user(session, users.TelegramProfile(next_telegram_id(), "王"), now=CLOCK.now())
    await users.set_home_community(session, resident, chenguang.id)
    care = await session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == "elderly.community_care"))
    import uuid

    filed = await requests.file_request(session, resident, requests.RequestDraft(
        token=str(uuid.uuid4()), category_id=care, description="需要有人帮忙买菜"), now=CLOCK.now())
    li_jing = await worker(session, world)
    from bot.services import cases

    await cases.accept(session, li_jing, filed.request.id, now=CLOCK.now())
    task, _ = await tasks.create(session, li_jing, form(needed=1, request_id=filed.request.id), now=CLOCK.now(),
                                 policy=POLICY)
    await tasks.accept(session, person, (await assignment(session, task.id, person)).id, now=CLOCK.now(),
                       policy=POLICY)
    await requests.cancel_request(session, resident, filed.request.id, now=CLOCK.now())
    refreshed = await session.get(VolunteerTask, task.id, populate_existing=True)
    assert refreshed.status is TaskStatus.CANCELLED and refreshed.cancel_reason == tasks.RESIDENT_CANCELLED
    assert (await statuses(session, task.id)) == {person.id: AssignmentStatus.CANCELLED}
    assert {r.status for r in await due_reminders(session, task.id)} == {ReminderStatus.CANCELLED}
    assert (await session.get(ServiceRequest, filed.request.id)).status.value == "cancelled"


async def test_a_withdrawal_after_the_start_moves_nobody_up(world: SampleWorld, session: AsyncSession) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    a, b = [await make_volunteer(session, n, chenguang) for n in ("甲", "乙")]
    li_jing = await worker(session, world)
    task, _ = await tasks.create(session, li_jing, form(needed=1), now=CLOCK.now(), policy=POLICY)
    await tasks.accept(session, a, (await assignment(session, task.id, a)).id, now=CLOCK.now(), policy=POLICY)
    await tasks.accept(session, b, (await assignment(session, task.id, b)).id, now=CLOCK.now(), policy=POLICY)
    await tasks.withdraw(session, a, (await assignment(session, task.id, a)).id,
                         now=task.starts_at + timedelta(minutes=30), policy=POLICY)
    assert (await statuses(session, task.id))[b.id] is AssignmentStatus.WAITLISTED


async def test_a_suspended_volunteer_gives_up_places_to_come_and_the_waitlist_moves_up(
    world: SampleWorld, session: AsyncSession
) -> None:
    from bot.services import volunteers

    chenguang = await place_of(session, world, "晨光社区")
    a, b = [await make_volunteer(session, n, chenguang) for n in ("甲", "乙")]
    li_jing = await worker(session, world)
    task, _ = await tasks.create(session, li_jing, form(needed=1), now=CLOCK.now(), policy=POLICY)
    await tasks.accept(session, a, (await assignment(session, task.id, a)).id, now=CLOCK.now(), policy=POLICY)
    await tasks.accept(session, b, (await assignment(session, task.id, b)).id, now=CLOCK.now(), policy=POLICY)
    before = await session.scalar(select(func.count()).select_from(OutgoingMessage))
    await volunteers.suspend(session, li_jing, a.id, "多次未到岗", now=CLOCK.now(), policy=POLICY)
    assert await statuses(session, task.id) == {a.id: AssignmentStatus.WITHDRAWN, b.id: AssignmentStatus.ACCEPTED}
    told = (await session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id).offset(before))).all()
    assert {m.user_id for m in told} == {a.id, b.id, li_jing.id}
    reminders = await due_reminders(session, task.id)
    assert {(r.user_id, r.status) for r in reminders} == {(a.id, ReminderStatus.CANCELLED),
                                                          (b.id, ReminderStatus.PENDING)}


async def test_adding_by_hand_offering_more_and_who_may_manage(world: SampleWorld, session: AsyncSession) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    late = await make_volunteer(session, "晚上有空", chenguang, windows=((5, time(18), time(21)),))
    people = [await make_volunteer(session, f"志愿者{i}", chenguang) for i in range(3)]
    li_jing = await worker(session, world)
    task, offered = await tasks.create(session, li_jing, form(needed=2), now=CLOCK.now(), policy=POLICY)
    assert offered == 3  # a wave of four; three are free then
    # The usual-hours one can still be added by hand (agreed by phone); they are told.
    listed = await tasks.addable(session, li_jing, task.id, now=CLOCK.now(), policy=POLICY)
    assert (late.id, "晚上有空", False) in listed
    await tasks.add_directly(session, li_jing, task.id, late.id, now=CLOCK.now(), policy=POLICY)
    assert (await statuses(session, task.id))[late.id] is AssignmentStatus.ACCEPTED
    with pytest.raises(InvalidState):  # twice
        await tasks.add_directly(session, li_jing, task.id, late.id, now=CLOCK.now(), policy=POLICY)
    await tasks.accept(session, people[0], (await assignment(session, task.id, people[0])).id, now=CLOCK.now(),
                       policy=POLICY)
    with pytest.raises(InvalidState):  # full
        await tasks.offer_more(session, li_jing, task.id, now=CLOCK.now(), policy=POLICY)
    with pytest.raises(InvalidState):
        await tasks.add_directly(session, li_jing, task.id, people[1].id, now=CLOCK.now(), policy=POLICY)

    # A coordinator and the station's supervisor manage it; 李静 without her role no longer does.
    zhou = await worker(session, world, "zhou")
    assert await tasks.may_manage(session, zhou, task)
    chen_gang = await worker(session, world, "chen_gang")
    assert not await tasks.may_manage(session, chen_gang, task)
    row = next(r for r in li_jing.role_rows if r.role is Role.SOCIAL_WORKER)
    li_jing.role_rows.remove(row)  # her role taken away (the profile stays)
    await session.flush()
    assert not await tasks.may_manage(session, li_jing, task)


async def test_the_task_list_shows_upcoming_tasks_first_then_the_last_weeks(world: SampleWorld,
                                                                            session: AsyncSession) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    li_jing = await worker(session, world)
    now = CLOCK.now()

    def made(title: str, start: datetime) -> VolunteerTask:
        task = VolunteerTask(kind=TaskKind.COMMUNITY, title=title, place="p", starts_at=start,
                             ends_at=start + timedelta(hours=1), needed=1, skills=[], community_id=chenguang.id,
                             created_by_id=li_jing.id, created_at=now, updated_at=now)
        session.add(task)
        return task

    made("上周", now - timedelta(days=3))
    made("很久以前", now - timedelta(days=30))
    made("下周", now + timedelta(days=7))
    made("明天", now + timedelta(days=1))
    await session.flush()
    assert [t.title for t in await tasks.for_manager(session, li_jing, now=now)] == ["明天", "下周", "上周"]


def test_residents_hear_the_family_name_only() -> None:
    assert [tasks.public_volunteer_name(n) for n in ("张伟", "欧阳娜娜", "欧阳", "Wei Zhang", " ")] == [
        "张", "欧阳", "欧", "Wei", "—"]
