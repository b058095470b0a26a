"""Service records as services: check-in rules, hours, and the social worker's decisions with who, when and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import records, tasks
from bot.services.errors import InvalidInput, InvalidState, PermissionDenied
from bot.services.world import SampleWorld
from models import OutgoingMessage, RecordStatus, Reminder, ReminderStatus, ServiceRecord, TaskAssignment, User
from tests.conftest import CLOCK
from tests.test_services_tasks import POLICY, form, make_volunteer, place_of, worker


async def served(session: AsyncSession, world: SampleWorld, *, minutes: int = 125,
                 checked_out: bool = True) -> tuple[User, User, ServiceRecord]:
    """A volunteer who checked in at the start of a task and (by default) out `minutes` later."""
    chenguang = await place_of(session, world, "晨光社区")
    person = await make_volunteer(session, "张伟", chenguang)
    li_jing = await worker(session, world)
    task, _ = await tasks.create(session, li_jing, form(needed=1), now=CLOCK.now(), policy=POLICY)
    assignment = await session.scalar(select(TaskAssignment).where(TaskAssignment.task_id == task.id))
    await tasks.accept(session, person, assignment.id, now=CLOCK.now(), policy=POLICY)
    record = await records.check_in(session, person, assignment.id, now=task.starts_at, policy=POLICY)
    if checked_out:
        await records.check_out(session, person, assignment.id, now=task.starts_at + timedelta(minutes=minutes,
                                                                                               seconds=30))
    return person, li_jing, record


async def outbox_since(session: AsyncSession, before: int) -> list[OutgoingMessage]:
    return list((await session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id).offset(before))).all())


async def count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(OutgoingMessage)) or 0


async def test_check_in_rules(world: SampleWorld, session: AsyncSession) -> None:
    chenguang = await place_of(session, world, "晨光社区")
    person = await make_volunteer(session, "张伟", chenguang)
    li_jing = await worker(session, world)
    task, _ = await tasks.create(session, li_jing, form(needed=1), now=CLOCK.now(), policy=POLICY)
    assignment = await session.scalar(select(TaskAssignment).where(TaskAssignment.task_id == task.id))
    with pytest.raises(InvalidState):  # offered, not accepted
        await records.check_in(session, person, assignment.id, now=task.starts_at, policy=POLICY)
    await tasks.accept(session, person, assignment.id, now=CLOCK.now(), policy=POLICY)
    with pytest.raises(InvalidState):  # 31 minutes early
        await records.check_in(session, person, assignment.id, now=task.starts_at - timedelta(minutes=31),
                               policy=POLICY)
    with pytest.raises(InvalidState):  # at the end
        await records.check_in(session, person, assignment.id, now=task.ends_at, policy=POLICY)
    with pytest.raises(InvalidState):  # out without in
        await records.check_out(session, person, assignment.id, now=task.starts_at)
    record = await records.check_in(session, person, assignment.id, now=task.starts_at - timedelta(minutes=30),
                                    policy=POLICY)
    with pytest.raises(InvalidState):  # twice
        await records.check_in(session, person, assignment.id, now=task.starts_at, policy=POLICY)
    with pytest.raises(InvalidInput):  # zero-length
        await records.check_out(session, person, assignment.id, now=task.starts_at - timedelta(minutes=29,
                                                                                                seconds=30))
    await records.check_out(session, person, assignment.id, now=task.ends_at)
    assert (record.status, record.minutes) == (RecordStatus.PENDING, 150)
    with pytest.raises(InvalidState):  # out twice
        await records.check_out(session, person, assignment.id, now=task.ends_at + timedelta(minutes=5))


async def test_verify_adjust_reject_keep_who_when_and_why(world: SampleWorld, session: AsyncSession) -> None:
    person, li_jing, record = await served(session, world)
    chen_gang = await worker(session, world, "chen_gang")
    for outsider in (person, chen_gang):  # the volunteer, or a worker of another community
        with pytest.raises(PermissionDenied):
            await records.verify(session, outsider, record.id, now=CLOCK.now())
    with pytest.raises(InvalidInput):
        await records.adjust(session, li_jing, record.id, 90, "  ", now=CLOCK.now())
    with pytest.raises(InvalidInput):
        await records.adjust(session, li_jing, record.id, 0, "没来", now=CLOCK.now())

    before = await count(session)
    decided_at = CLOCK.now() + timedelta(days=1)
    await records.adjust(session, li_jing, record.id, 90, "提前一小时离开", now=decided_at)
    assert (record.status, record.minutes, record.verified_minutes) == (RecordStatus.ADJUSTED, 125, 90)
    assert (record.verified_by_id, record.verified_at, record.reason) == (li_jing.id, decided_at, "提前一小时离开")
    told = await outbox_since(session, before)
    assert [m.user_id for m in told] == [person.id]
    assert [b["action"] for b in told[0].buttons] == ["record.correct"]
    with pytest.raises(InvalidState):  # decided: only a correction reopens it
        await records.verify(session, li_jing, record.id, now=CLOCK.now())

    # The volunteer asks for a correction; it goes back to the social worker, who verifies as recorded.
    with pytest.raises(InvalidInput):
        await records.request_correction(session, person, record.id, "", now=CLOCK.now())
    await records.request_correction(session, person, record.id, "我一直待到最后", now=CLOCK.now())
    assert (record.status, record.correction_note) == (RecordStatus.CORRECTION, "我一直待到最后")
    await records.verify(session, li_jing, record.id, now=CLOCK.now())
    assert (record.status, record.verified_minutes) == (RecordStatus.VERIFIED, 125)


async def test_a_forgotten_check_out_is_adjusted_or_rejected_never_verified(world: SampleWorld,
                                                                           session: AsyncSession) -> None:
    person, li_jing, record = await served(session, world, checked_out=False)
    missing = await session.scalar(select(Reminder).where(Reminder.kind == records.CHECKOUT_MISSING))
    await records.checkout_missing(session, missing, now=missing.due_at, policy=POLICY)
    assert (record.status, record.minutes) == (RecordStatus.NO_CHECKOUT, None)
    with pytest.raises(InvalidState):
        await records.verify(session, li_jing, record.id, now=CLOCK.now())
    await records.reject(session, li_jing, record.id, "未到岗", now=CLOCK.now())
    assert (record.status, record.verified_minutes) == (RecordStatus.REJECTED, None)


def test_ten_working_days_skip_weekends() -> None:
    friday = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # 10:00 Friday in Shanghai
    assert records.working_days_after(friday, 10, "Asia/Shanghai") == datetime(2026, 12, 18, 2, 0, tzinfo=UTC)
    saturday = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    assert records.working_days_after(saturday, 1, "Asia/Shanghai") == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


async def test_an_undecided_record_is_escalated_after_ten_working_days(world: SampleWorld,
                                                                      session: AsyncSession) -> None:
    person, li_jing, record = await served(session, world)
    due = await session.scalar(select(Reminder).where(Reminder.kind == records.VERIFY_DUE))
    assert due.due_at == records.working_days_after(record.checked_out_at, 10, "Asia/Shanghai")
    assert due.due_at - record.checked_out_at >= timedelta(days=12)  # two weekends at least
    before = await count(session)
    await records.verify_due(session, due, now=due.due_at, policy=POLICY)
    told = {m.user_id for m in await outbox_since(session, before)}
    assert li_jing.id in told
    # Decided in time: the reminder is cancelled and would say nothing.
    await records.verify(session, li_jing, record.id, now=CLOCK.now())
    await session.refresh(due)
    assert due.status is ReminderStatus.CANCELLED
    before = await count(session)
    await records.verify_due(session, due, now=due.due_at, policy=POLICY)
    assert await count(session) == before
