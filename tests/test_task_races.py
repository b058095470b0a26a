"""Volunteer tasks under concurrency, each action in a transaction of its own.

On PostgreSQL the transactions really overlap (a task row, then a volunteer row, locked by
whichever comes first); on SQLite the database's write lock runs them one after the other.
Either way: one volunteer never holds places in two overlapping tasks, and a wave reminder
claimed while another wave went out sends nothing more.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import tasks
from bot.services.errors import DomainError
from bot.services.world import SampleWorld
from models import AssignmentStatus, Community, Reminder, TaskAssignment, User, VolunteerTask
from tests.conftest import CLOCK
from tests.test_services_tasks import POLICY, form, make_volunteer, next_saturday

TRIALS = 10


async def act(session_factory, user_id: int, work) -> str:  # noqa: ANN001
    try:
        async with session_factory() as session, session.begin():
            user = await session.get(User, user_id)
            await work(session, user)
        return "ok"
    except DomainError as error:
        return type(error).__name__


async def two_overlapping_tasks(session_factory: async_sessionmaker[AsyncSession], world: SampleWorld,
                                trial: int) -> tuple[int, int, int, int, int]:
    """A volunteer offered two overlapping tasks (and a second volunteer waiting in the first)."""
    async with session_factory() as session, session.begin():
        chenguang = await session.get(Community, world.communities["晨光社区"].id)
        volunteer = await make_volunteer(session, f"甲{trial}", chenguang)
        li_jing = await session.get(User, world.people["li_jing"].id)
        week = trial + 1
        first, _ = await tasks.create(session, li_jing, form(title=f"A{trial}", starts_at=next_saturday(9, weeks=week),
                                                             ends_at=next_saturday(11, weeks=week)),
                                      now=CLOCK.now(), policy=POLICY)
        second, _ = await tasks.create(session, li_jing, form(title=f"B{trial}",
                                                              starts_at=next_saturday(10, weeks=week),
                                                              ends_at=next_saturday(12, weeks=week)),
                                       now=CLOCK.now(), policy=POLICY)
        ids = []
        for task in (first, second):
            assignment = await session.scalar(select(TaskAssignment).where(
                TaskAssignment.task_id == task.id, TaskAssignment.volunteer_id == volunteer.id))
            if assignment is None:
                assignment = TaskAssignment(task_id=task.id, volunteer_id=volunteer.id, offered_at=CLOCK.now())
                session.add(assignment)
                await session.flush()
            ids.append(assignment.id)
        return volunteer.id, first.id, second.id, ids[0], ids[1]


async def places(session_factory, volunteer_id: int) -> list[int]:  # noqa: ANN001
    async with session_factory() as session:
        return list((await session.scalars(select(TaskAssignment.task_id).where(
            TaskAssignment.volunteer_id == volunteer_id, TaskAssignment.status == AssignmentStatus.ACCEPTED))).all())


async def test_accepting_two_overlapping_tasks_at_once_gives_one_place(world: SampleWorld, session_factory) -> None:
    for trial in range(TRIALS):
        volunteer, first, second, offer_a, offer_b = await two_overlapping_tasks(session_factory, world, trial)
        results = await asyncio.gather(
            act(session_factory, volunteer, lambda s, u, a=offer_a: tasks.accept(s, u, a, now=CLOCK.now(),
                                                                                policy=POLICY)),
            act(session_factory, volunteer, lambda s, u, b=offer_b: tasks.accept(s, u, b, now=CLOCK.now(),
                                                                                policy=POLICY)),
        )
        assert sorted(results) == ["InvalidState", "ok"], results
        assert len(await places(session_factory, volunteer)) == 1


async def test_added_by_hand_while_accepting_an_overlapping_task_gives_one_place(world: SampleWorld,
                                                                                 session_factory) -> None:
    li_jing = world.people["li_jing"].id
    for trial in range(TRIALS):
        volunteer, first, second, offer_a, _offer_b = await two_overlapping_tasks(session_factory, world, trial)
        results = await asyncio.gather(
            act(session_factory, volunteer, lambda s, u, a=offer_a: tasks.accept(s, u, a, now=CLOCK.now(),
                                                                                policy=POLICY)),
            act(session_factory, li_jing, lambda s, u, t=second, v=volunteer: tasks.add_directly(
                s, u, t, v, now=CLOCK.now(), policy=POLICY)),
        )
        assert sorted(results) == ["InvalidState", "ok"], results
        assert len(await places(session_factory, volunteer)) == 1


async def test_a_wave_reminder_claimed_while_offer_more_runs_sends_no_extra_wave(world: SampleWorld,
                                                                                session_factory) -> None:
    async with session_factory() as session, session.begin():
        chenguang = await session.get(Community, world.communities["晨光社区"].id)
        for i in range(8):
            await make_volunteer(session, f"v{i}", chenguang, offered_at=CLOCK.now() - timedelta(days=30 - i))
        li_jing = await session.get(User, world.people["li_jing"].id)
        task, offered = await tasks.create(session, li_jing, form(needed=1), now=CLOCK.now(), policy=POLICY)
        task_id = task.id
    assert offered == 2
    async with session_factory() as session:
        reminder_id = await session.scalar(select(Reminder.id).where(Reminder.task_id == task_id,
                                                                      Reminder.kind == tasks.TASK_WAVE))
    due = CLOCK.now() + timedelta(minutes=61)

    async def wave(session: AsyncSession, _user: User) -> None:
        reminder = await session.get(Reminder, reminder_id)
        await tasks.wave_due(session, reminder, now=due, policy=POLICY)

    await asyncio.gather(
        act(session_factory, li_jing.id, lambda s, u: tasks.offer_more(s, u, task_id, now=due, policy=POLICY)),
        act(session_factory, li_jing.id, wave),
    )
    async with session_factory() as session:
        waves = (await session.get(VolunteerTask, task_id)).waves
    # Offer to more and the wave reminder are one wave between them, whichever ran first.
    assert waves == 2
