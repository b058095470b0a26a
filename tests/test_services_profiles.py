"""Social worker profiles: who may change what, and what is refused."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bot.services import profiles
from bot.services.errors import InvalidInput, NotFound, PermissionDenied
from models import SupportAssignment
from tests.conftest import CLOCK
from tests.test_services import category, coordinator, person, resident_of


async def test_a_worker_sets_their_own_duty_and_specialties_but_not_others_things(session, world):
    li_jing = await person(session, world, "li_jing")
    assert profiles.set_duty(li_jing, False).on_duty is False
    daily = await category(session, "elderly.community_care")
    assert await profiles.set_specialties(session, li_jing, [daily.id]) == {daily.id}
    assert await profiles.specialties_of(session, li_jing) == {daily.id}
    assert await profiles.set_specialties(session, li_jing, []) == set()
    with pytest.raises(PermissionDenied):
        await profiles.set_capacity(session, li_jing, li_jing.id, 5)
    with pytest.raises(PermissionDenied):
        profiles.set_duty(await resident_of(session, world, "晨光社区"), True)


async def test_specialties_are_services_of_the_workers_own_kind_of_community(session, world):
    li_jing = await person(session, world, "li_jing")  # 晨光社区 is urban
    village_only = await category(session, "left_behind_children.study")
    with pytest.raises(InvalidInput):
        await profiles.set_specialties(session, li_jing, [village_only.id])
    with pytest.raises(InvalidInput):
        await profiles.set_specialties(session, li_jing, [10**9])
    offered = {c.code for c in await profiles.offered_categories(session, li_jing)}
    assert "elderly.community_care" in offered and "left_behind_children.study" not in offered


async def test_a_coordinator_sets_capacity_supervisors_and_support(session, world):
    boss = await coordinator(session, world)
    li_jing = await person(session, world, "li_jing")
    assert (await profiles.set_capacity(session, boss, li_jing.id, 3)).capacity == 3
    for bad in (0, -1, profiles.CAPACITY_MAX + 1):
        with pytest.raises(InvalidInput):
            await profiles.set_capacity(session, boss, li_jing.id, bad)
    assert (await profiles.set_supervisor(session, boss, li_jing.id, True)).is_supervisor
    with pytest.raises(NotFound):  # a resident's id is not a social worker's
        await profiles.set_capacity(session, boss, (await resident_of(session, world, "晨光社区")).id, 3)

    taoyuan = world.communities["桃园社区"].id
    first = await profiles.assign_support(session, boss, li_jing.id, taoyuan, date(2026, 12, 1), date(2026, 12, 31),
                                          now=CLOCK.now())
    with pytest.raises(InvalidInput):  # overlapping
        await profiles.assign_support(session, boss, li_jing.id, taoyuan, date(2026, 12, 31), date(2027, 1, 5),
                                      now=CLOCK.now())
    with pytest.raises(InvalidInput):  # backwards
        await profiles.assign_support(session, boss, li_jing.id, taoyuan, date(2027, 2, 2), date(2027, 2, 1),
                                      now=CLOCK.now())
    with pytest.raises(InvalidInput):  # her own community
        await profiles.assign_support(session, boss, li_jing.id, world.communities["晨光社区"].id,
                                      date(2027, 2, 1), date(2027, 2, 2), now=CLOCK.now())
    with pytest.raises(InvalidInput):  # too long
        await profiles.assign_support(session, boss, li_jing.id, taoyuan, date(2027, 1, 1), date(2028, 1, 5),
                                      now=CLOCK.now())
    await profiles.assign_support(session, boss, li_jing.id, taoyuan, date(2027, 1, 1), date(2027, 1, 31),
                                  now=CLOCK.now())
    # Ended on 10 December: it ran until the 9th. One that has not begun goes altogether.
    ended = await profiles.end_support(session, boss, first.id, worker_user_id=li_jing.id, today=date(2026, 12, 10))
    assert ended is not None and ended.ends_on == date(2026, 12, 9)
    with pytest.raises(NotFound):  # already over
        await profiles.end_support(session, boss, first.id, worker_user_id=li_jing.id, today=date(2026, 12, 10))
    later = (await session.scalars(select(SupportAssignment).where(
        SupportAssignment.worker_id == li_jing.id, SupportAssignment.starts_on == date(2027, 1, 1)))).one()
    with pytest.raises(NotFound):  # not this worker's
        await profiles.end_support(session, boss, later.id, worker_user_id=boss.id, today=date(2026, 12, 10))
    assert await profiles.end_support(session, boss, later.id, worker_user_id=li_jing.id,
                                      today=date(2026, 12, 10)) is None
    left = (await session.scalars(select(SupportAssignment.ends_on).where(
        SupportAssignment.worker_id == li_jing.id))).all()
    assert left == [date(2026, 12, 9)]
    with pytest.raises(PermissionDenied):
        await profiles.assign_support(session, li_jing, li_jing.id, taoyuan, date(2027, 3, 1), date(2027, 3, 2),
                                      now=CLOCK.now())
