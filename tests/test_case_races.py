"""Two people acting on one case at the same moment, each in a transaction of their own.

On PostgreSQL the transactions really overlap (the request row is locked by whichever
comes first, and the other then reads what it committed); on SQLite the database's
write lock runs them one after the other. Either way the case ends in one consistent
state: never accepted and re-offered, never cancelled and re-offered.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import cases, requests, users
from bot.services.cases import CasePolicy
from bot.services.errors import DomainError
from bot.services.world import SampleWorld
from models import (
    CaseOffer,
    DeclineReason,
    OfferStatus,
    Reminder,
    ReminderStatus,
    RequestStatus,
    Role,
    ServiceCategory,
    ServiceRequest,
    User,
)
from tests.conftest import CLOCK, next_telegram_id

TRIALS = 15


async def setup(session_factory: async_sessionmaker[AsyncSession], world: SampleWorld,
                with_sun: bool = True) -> tuple[int, int, int]:
    """A resident, and (`with_sun`) a second social worker in 晨光, 孙; returns (li_jing, sun, resident) ids.

    Without 孙, routing offers every new request to 李静, the only worker there.
    """
    async with session_factory() as session, session.begin():
        sun = await users.touch_user(session, users.TelegramProfile(next_telegram_id(), "孙"), now=CLOCK.now())
        if with_sun:
            await users.grant_role(session, sun, Role.SOCIAL_WORKER, now=CLOCK.now())
            sun.social_worker.home_community_id = world.communities["晨光社区"].id
            sun.social_worker.capacity = 1000
        resident = await users.touch_user(session, users.TelegramProfile(next_telegram_id(), "王"), now=CLOCK.now())
        await users.set_home_community(session, resident, world.communities["晨光社区"].id)
        li = await session.get(User, world.people["li_jing"].id)
        li.social_worker.capacity = 1000
        return li.id, sun.id, resident.id


async def new_case(session_factory, resident_id: int, *, both: bool, workers: tuple[int, ...] = ()) -> int:  # noqa: ANN001
    """A filed request offered by routing; with `both`, to each of `workers` as well (as an urgent one is)."""
    async with session_factory() as session, session.begin():
        resident = await session.get(User, resident_id)
        care = await session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == "elderly.community_care"))
        filed = await requests.file_request(session, resident, requests.RequestDraft(
            token=str(uuid.uuid4()), category_id=care, description="需要有人帮忙买菜"), now=CLOCK.now())
        request = filed.request
        if both:
            offered = set((await session.scalars(select(CaseOffer.worker_id)
                                                 .where(CaseOffer.request_id == request.id))).all())
            request.assigned_worker_id = None
            for worker_id in set(workers) - offered:
                worker = await session.get(User, worker_id)
                await cases._offer(session, request, worker, reason="urgent", now=CLOCK.now(),  # noqa: SLF001
                                   assign=False)
        return request.id


async def act(session_factory, user_id: int, work: Callable[[AsyncSession, User], Awaitable[object]]) -> str:  # noqa: ANN001
    try:
        async with session_factory() as session, session.begin():
            user = await session.get(User, user_id)
            await work(session, user)
        return "ok"
    except DomainError as error:
        return type(error).__name__


async def state(session_factory, request_id: int) -> tuple[RequestStatus, int | None, list[int], int]:  # noqa: ANN001
    async with session_factory() as session:
        request = await session.get(ServiceRequest, request_id)
        pending = list((await session.scalars(select(CaseOffer.worker_id).where(
            CaseOffer.request_id == request_id, CaseOffer.status == OfferStatus.PENDING))).all())
        timeouts = len((await session.scalars(select(Reminder.id).where(
            Reminder.request_id == request_id, Reminder.kind == cases.OFFER_TIMEOUT,
            Reminder.status == ReminderStatus.PENDING))).all())
        return request.status, request.assigned_worker_id, pending, timeouts


async def test_accept_and_a_colleagues_decline_at_once(world: SampleWorld, session_factory) -> None:
    li, sun, resident = await setup(session_factory, world)
    for _ in range(TRIALS):
        request_id = await new_case(session_factory, resident, both=True, workers=(li, sun))
        results = await asyncio.gather(
            act(session_factory, li, lambda s, u, rid=request_id: cases.accept(s, u, rid, now=CLOCK.now())),
            act(session_factory, sun, lambda s, u, rid=request_id: cases.decline(s, u, rid, DeclineReason.CAPACITY, None,
                                                                  now=CLOCK.now())),
        )
        assert results[0] == "ok", results
        assert await state(session_factory, request_id) == (RequestStatus.ACCEPTED, li, [], 0)


async def test_a_cancel_and_a_decline_at_once(world: SampleWorld, session_factory) -> None:
    li, _sun, resident = await setup(session_factory, world, with_sun=False)
    for _ in range(TRIALS):
        request_id = await new_case(session_factory, resident, both=False)
        await asyncio.gather(
            act(session_factory, resident, lambda s, u, rid=request_id: requests.cancel_request(s, u, rid, now=CLOCK.now())),
            act(session_factory, li, lambda s, u, rid=request_id: cases.decline(s, u, rid, DeclineReason.UNAVAILABLE, None,
                                                                 now=CLOCK.now())),
        )
        status, _holder, pending, timeouts = await state(session_factory, request_id)
        assert (status, pending, timeouts) == (RequestStatus.CANCELLED, [], 0), "cancelled stays cancelled"


async def test_an_offer_timing_out_while_it_is_accepted(world: SampleWorld, session_factory) -> None:
    li, _sun, resident = await setup(session_factory, world, with_sun=False)
    policy = CasePolicy()
    for _ in range(TRIALS):
        request_id = await new_case(session_factory, resident, both=False)
        async with session_factory() as session:
            reminder = await session.scalar(select(Reminder).where(Reminder.request_id == request_id,
                                                                   Reminder.kind == cases.OFFER_TIMEOUT))
            reminder_id = reminder.id

        async def time_out(session: AsyncSession, _user: User, rid: int = reminder_id) -> None:
            row = await session.get(Reminder, rid)
            await cases.offer_timeout(session, row, now=CLOCK.now() + timedelta(minutes=31), policy=policy)

        results = await asyncio.gather(
            act(session_factory, li, lambda s, u, rid=request_id: cases.accept(s, u, rid, now=CLOCK.now())),
            act(session_factory, li, time_out),
        )
        assert results[0] == "ok", results
        status, holder, pending, timeouts = await state(session_factory, request_id)
        assert (status, holder, pending, timeouts) == (RequestStatus.ACCEPTED, li, [], 0)


@pytest.mark.parametrize("who_first", ["accept", "cancel"])
async def test_accept_and_cancel_at_once(world: SampleWorld, session_factory, who_first: str) -> None:
    li, _sun, resident = await setup(session_factory, world, with_sun=False)
    for _ in range(TRIALS):
        request_id = await new_case(session_factory, resident, both=False)
        accept = act(session_factory, li, lambda s, u, rid=request_id: cases.accept(s, u, rid, now=CLOCK.now()))
        cancel = act(session_factory, resident, lambda s, u, rid=request_id: requests.cancel_request(s, u, rid,
                                                                                      now=CLOCK.now()))
        results = await asyncio.gather(*((accept, cancel) if who_first == "accept" else (cancel, accept)))
        status, holder, pending, timeouts = await state(session_factory, request_id)
        assert pending == [] and timeouts == 0
        assert status in (RequestStatus.ACCEPTED, RequestStatus.CANCELLED), results
        if status is RequestStatus.ACCEPTED:
            assert holder == li
