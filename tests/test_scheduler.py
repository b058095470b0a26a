"""The reminder sweeper: due rows fire once, in order, across several sweepers; failures back off."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.scheduler import MAX_ATTEMPTS, ReminderSweeper, Scheduler
from bot.services.world import SampleWorld
from models import Reminder, ReminderStatus
from tests.conftest import CLOCK


async def add_reminders(session_factory: async_sessionmaker[AsyncSession], kind: str, due: list[datetime]) -> list[int]:
    async with session_factory() as session, session.begin():
        rows = [Reminder(kind=kind, due_at=at, payload={"n": n}, created_at=CLOCK.now()) for n, at in enumerate(due)]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def statuses(session_factory: async_sessionmaker[AsyncSession], ids: list[int]) -> dict[int, Reminder]:
    async with session_factory() as session:
        rows = (await session.scalars(select(Reminder).where(Reminder.id.in_(ids)))).all()
        return {row.id: row for row in rows}


async def test_only_due_reminders_fire_in_due_order(world: SampleWorld, session_factory) -> None:
    clock = ManualClock(CLOCK.now())
    now = clock.now()
    fired: list[int] = []

    async def record(session: AsyncSession, reminder: Reminder, at: datetime) -> None:
        assert at == clock.now()
        fired.append(reminder.payload["n"])

    ids = await add_reminders(session_factory, "test.record",
                              [now + timedelta(minutes=5), now - timedelta(minutes=1), now, now + timedelta(hours=1)])
    sweeper = ReminderSweeper(session_factory, clock, {"test.record": record})

    assert await sweeper.sweep() == 2
    assert fired == [1, 2]
    clock.advance(minutes=5)
    assert await sweeper.sweep() == 1
    assert fired == [1, 2, 0]
    assert await sweeper.sweep() == 0
    rows = await statuses(session_factory, ids)
    assert [rows[i].status for i in ids] == [ReminderStatus.DONE, ReminderStatus.DONE, ReminderStatus.DONE,
                                             ReminderStatus.PENDING]
    assert rows[ids[0]].done_at == clock.now() and rows[ids[0]].attempts == 1


async def test_several_sweepers_fire_each_reminder_exactly_once(world: SampleWorld, session_factory) -> None:
    """As several bot processes would: each with its own sweeper, all at once, against one database."""
    now = CLOCK.now()
    ids = await add_reminders(session_factory, "test.count", [now - timedelta(seconds=n) for n in range(120)])
    fired: list[int] = []

    async def count(session: AsyncSession, reminder: Reminder, at: datetime) -> None:
        fired.append(reminder.id)
        await asyncio.sleep(0)  # let the other sweepers in between claim and commit

    sweepers = [ReminderSweeper(session_factory, ManualClock(now), {"test.count": count}) for _ in range(4)]
    claimed = await asyncio.gather(*(s.sweep() for s in sweepers))

    assert sum(claimed) == len(ids)
    assert sorted(fired) == sorted(ids), "each reminder fired once, none twice, none lost"
    rows = await statuses(session_factory, ids)
    assert {row.status for row in rows.values()} == {ReminderStatus.DONE}


async def test_a_failing_reminder_backs_off_and_is_given_up_after_its_attempts(world: SampleWorld, session_factory) -> None:
    clock = ManualClock(CLOCK.now())
    [reminder_id] = await add_reminders(session_factory, "test.fail", [clock.now()])
    calls = 0

    async def fail(session: AsyncSession, reminder: Reminder, at: datetime) -> None:
        nonlocal calls
        calls += 1
        session.add(Reminder(kind="test.never", due_at=at, payload={}, created_at=at))  # rolled back with the work
        await session.flush()
        raise RuntimeError("the network is down")

    sweeper = ReminderSweeper(session_factory, clock, {"test.fail": fail})
    assert await sweeper.sweep() == 1
    row = (await statuses(session_factory, [reminder_id]))[reminder_id]
    assert (row.status, row.attempts, row.due_at) == (ReminderStatus.PENDING, 1, clock.now() + timedelta(minutes=1))
    assert row.last_error == "RuntimeError: the network is down"
    assert await sweeper.sweep() == 0, "not again before its new due time"

    for attempt in range(2, MAX_ATTEMPTS + 1):
        clock.advance(minutes=2 ** (attempt - 2))
        assert await sweeper.sweep() == 1
    row = (await statuses(session_factory, [reminder_id]))[reminder_id]
    assert (row.status, row.attempts, calls) == (ReminderStatus.FAILED, MAX_ATTEMPTS, MAX_ATTEMPTS)
    async with session_factory() as session:
        assert await session.scalar(select(Reminder).where(Reminder.kind == "test.never")) is None


async def test_a_reminder_of_an_unknown_kind_fails_without_stopping_the_others(world: SampleWorld, session_factory) -> None:
    clock = ManualClock(CLOCK.now())
    fired: list[str] = []

    async def record(session: AsyncSession, reminder: Reminder, at: datetime) -> None:
        fired.append(reminder.kind)

    ids = await add_reminders(session_factory, "test.unknown", [clock.now() - timedelta(minutes=1)])
    ids += await add_reminders(session_factory, "test.record", [clock.now()])
    assert await ReminderSweeper(session_factory, clock, {"test.record": record}).sweep() == 2
    assert fired == ["test.record"]
    rows = await statuses(session_factory, ids)
    assert rows[ids[0]].status is ReminderStatus.PENDING and "no handler" in (rows[ids[0]].last_error or "")


async def test_the_scheduler_ticks_the_sweeper_and_stops(world: SampleWorld, session_factory) -> None:
    ticked = asyncio.Event()

    class Probe(ReminderSweeper):
        async def sweep(self) -> int:
            ticked.set()
            return 0

    scheduler = Scheduler(Probe(session_factory, ManualClock(CLOCK.now()), {}), interval=3600)
    scheduler.start()
    try:
        await asyncio.wait_for(ticked.wait(), timeout=10)  # the first tick runs at start, not after an hour
        assert scheduler.running
    finally:
        scheduler.stop()
    assert not scheduler.running


async def test_500_reminders_due_in_one_minute_are_each_sent_once_by_two_processes(
    world: SampleWorld, session_factory, database_url: str
) -> None:
    """Two bot processes: each its own engine and connection pool, its own sweeper and metrics, one database.

    Each reminder's handler writes a notice to the outbox, as the real kinds do: a reminder
    fired twice would leave two notices.
    """
    from bot.db import make_engine, make_session_factory
    from bot.metrics import Metrics
    from bot.services.notices import Notice, enqueue
    from models import OutgoingMessage, User

    now = CLOCK.now()
    async with session_factory() as session:
        person = await session.scalar(select(User).limit(1))
    ids = await add_reminders(session_factory, "test.notice",
                              [now - timedelta(seconds=n % 60) for n in range(500)])

    async def notice(session: AsyncSession, reminder: Reminder, at: datetime) -> None:
        enqueue(session, Notice(person, "Request {number} was cancelled by the resident.",
                                {"number": f"R{reminder.id}"}), now=at)
        await asyncio.sleep(0)  # let the other process in between claim and commit

    engines = [make_engine(database_url, concurrency=4) for _ in range(2)]
    try:
        metrics = [Metrics() for _ in engines]
        sweepers = [ReminderSweeper(make_session_factory(engine), ManualClock(now), {"test.notice": notice},
                                    metrics=m) for engine, m in zip(engines, metrics, strict=True)]
        claimed = await asyncio.gather(*(s.sweep() for s in sweepers))
    finally:
        for engine in engines:
            await engine.dispose()

    assert sum(claimed) == 500
    fired = [m.reminders.labels("test.notice", "fired")._value.get() for m in metrics]
    assert sum(fired) == 500
    async with session_factory() as session:
        numbers = (await session.scalars(select(OutgoingMessage.params).where(
            OutgoingMessage.template == "Request {number} was cancelled by the resident."))).all()
    assert sorted(p["number"] for p in numbers) == sorted(f"R{i}" for i in ids), "one notice per reminder"
    rows = await statuses(session_factory, ids)
    assert {row.status for row in rows.values()} == {ReminderStatus.DONE}


async def test_after_an_outage_a_stale_nudge_is_skipped_and_a_deadline_still_fires(
    world: SampleWorld, session_factory
) -> None:
    """Everything was down for three hours: the hour-before reminder of a task is pointless now, the deadline is not."""
    from bot.scheduler import STALE_AFTER
    from bot.services.cases import RESPONSE_DUE
    from bot.services.tasks import TASK_REMINDER

    clock = ManualClock(CLOCK.now())
    fired: list[str] = []

    async def record(session: AsyncSession, reminder: Reminder, at: datetime) -> None:
        fired.append(reminder.kind)

    late = clock.now() - timedelta(hours=3)
    just_late = clock.now() - STALE_AFTER[TASK_REMINDER] + timedelta(minutes=1)
    [stale] = await add_reminders(session_factory, TASK_REMINDER, [late])
    [fresh] = await add_reminders(session_factory, TASK_REMINDER, [just_late])
    [deadline] = await add_reminders(session_factory, RESPONSE_DUE, [late])
    sweeper = ReminderSweeper(session_factory, clock, {TASK_REMINDER: record, RESPONSE_DUE: record})

    assert await sweeper.sweep() == 3
    assert sorted(fired) == sorted([RESPONSE_DUE, TASK_REMINDER])
    rows = await statuses(session_factory, [stale, fresh, deadline])
    assert rows[stale].status is ReminderStatus.SKIPPED
    assert rows[fresh].status is ReminderStatus.DONE
    assert rows[deadline].status is ReminderStatus.DONE
