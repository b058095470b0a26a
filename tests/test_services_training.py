"""Trainings as services: who may record one for whom, every field checked, each volunteer told."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import make_i18n, render
from bot.services import training, users
from bot.services.errors import InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.world import SampleWorld
from models import (
    IdDocument,
    OutgoingMessage,
    Role,
    Sex,
    Training,
    TrainingAttendee,
    User,
    Volunteer,
    VolunteerStatus,
)
from tests.conftest import CLOCK, next_telegram_id

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def volunteer_of(session: AsyncSession, world: SampleWorld, name: str, *, community: str = "晨光社区",
                       status: VolunteerStatus = VolunteerStatus.APPROVED, locale: str = "zh_CN",
                       telegram_id: int | None = None) -> User:
    """A volunteer of a community of the sample world, as a social worker's review left them."""
    now = CLOCK.now()
    person = await users.touch_user(session, users.TelegramProfile(telegram_id or next_telegram_id(), name), now=now)
    person.locale = locale
    person.real_name = name
    person.community_id = world.communities[community].id
    session.add(Volunteer(
        user_id=person.id, real_name=name, sex=Sex.FEMALE, birth_date=date(1990, 3, 7),
        id_type=IdDocument.RESIDENT_ID, id_number_masked="**************008X", phone="+8613912345678",
        community_id=world.communities[community].id, skills=[], interests=[], consent_at=now, status=status,
        volunteer_number=None if status is VolunteerStatus.PENDING else f"ZY2026{person.id:06d}",
        last_offered_at=now, created_at=now, updated_at=now,
    ))
    if status in (VolunteerStatus.APPROVED, VolunteerStatus.SUSPENDED):
        await users.grant_role(session, person, Role.VOLUNTEER, now=now)
    await session.flush()
    return person


async def staff(session: AsyncSession, world: SampleWorld, key: str) -> User:
    user = await session.get(User, world.people[key].id)
    assert user is not None
    return user


async def count(session: AsyncSession, model: type) -> int:
    return await session.scalar(select(func.count()).select_from(model)) or 0


def today() -> date:
    return CLOCK.now().astimezone(SHANGHAI).date()


def fields(**changes: object) -> dict[str, object]:
    values: dict[str, object] = dict(name="老年人照护基础", content="如何协助老人起身\n防跌倒要点", minutes=90,
                                     organiser="晨光社区社会工作室", held_on=today() - timedelta(days=1))
    values.update(changes)
    return values


# --- how it reads ---------------------------------------------------------------------------------------


def test_lengths_read_as_hours_with_at_most_one_decimal() -> None:
    assert [training.hours_text(m) for m in (60, 90, 120, 100, 45)] == ["1", "1.5", "2", "1.7", "0.8"]
    assert training.hours_phrase(60) == (training.ONE_HOUR, "1")
    assert training.hours_phrase(90) == (training.HOURS, "1.5")
    assert training.day_text(date(2026, 11, 28), "zh_CN") == "2026年11月28日"
    assert training.day_text(date(2026, 11, 28), "en") == "28 Nov 2026"


# --- recording -------------------------------------------------------------------------------------------


async def test_a_social_worker_records_a_training_and_each_volunteer_is_told(world: SampleWorld,
                                                                            session: AsyncSession) -> None:
    zhang = await volunteer_of(session, world, "张伟")
    sun = await volunteer_of(session, world, "孙丽", locale="en")
    li_jing = await staff(session, world, "li_jing")
    before = await count(session, OutgoingMessage)

    saved = await training.record(session, li_jing, **fields(name="  老年人照护  基础 ", volunteer_ids=[zhang.id, sun.id,
                                                                                                zhang.id]),
                                  now=CLOCK.now())

    assert (saved.name, saved.minutes, saved.recorded_by_id) == ("老年人照护 基础", 90, li_jing.id)
    assert saved.content == "如何协助老人起身\n防跌倒要点"
    assert saved.community_id == world.communities["晨光社区"].id
    attendees = (await session.scalars(select(TrainingAttendee.volunteer_id).where(
        TrainingAttendee.training_id == saved.id).order_by(TrainingAttendee.volunteer_id))).all()
    assert attendees == sorted([zhang.id, sun.id])
    notices = (await session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id).offset(before))).all()
    assert sorted(n.user_id for n in notices) == sorted([zhang.id, sun.id])
    i18n = make_i18n("zh_CN")
    held = today() - timedelta(days=1)
    zh = render(i18n, notices[0].template, notices[0].params, "zh_CN", SHANGHAI)
    en = render(i18n, notices[0].template, notices[0].params, "en", SHANGHAI)
    assert zh.startswith(f"📚 已为您登记一次培训：老年人照护 基础，{held.year}年{held.month}月{held.day}日，1.5小时")
    assert en.startswith(f"📚 A training was recorded for you: 老年人照护 基础, {training.day_text(held, 'en')}, "
                         "1.5 hours, by 晨光社区社会工作室.")

    mine = await training.for_volunteer(session, zhang.id)
    assert ([t.id for t in mine.items], mine.count, mine.total_minutes) == ([saved.id], 1, 90)
    recent = await training.recent_for_worker(session, li_jing)
    assert [(r.training.id, r.attendees) for r in recent] == [(saved.id, 2)]


async def test_a_volunteers_trainings_come_newest_first_with_the_hours_of_all(world: SampleWorld,
                                                                             session: AsyncSession) -> None:
    zhang = await volunteer_of(session, world, "张伟")
    li_jing = await staff(session, world, "li_jing")
    older = await training.record(session, li_jing, **fields(name="急救", minutes=120,
                                                             held_on=today() - timedelta(days=30)),
                                  volunteer_ids=[zhang.id], now=CLOCK.now())
    newer = await training.record(session, li_jing, **fields(name="防诈骗", minutes=60), volunteer_ids=[zhang.id],
                                  now=CLOCK.now())
    mine = await training.for_volunteer(session, zhang.id, limit=1)
    assert ([t.id for t in mine.items], mine.count, mine.total_minutes) == ([newer.id], 2, 180)
    assert older.id not in [t.id for t in mine.items]
    nobody = await training.for_volunteer(session, li_jing.id)
    assert (nobody.items, nobody.count, nobody.total_minutes) == ([], 0, 0)


async def test_only_the_volunteers_own_social_workers_or_a_coordinator_may_record(world: SampleWorld,
                                                                                 session: AsyncSession) -> None:
    zhang = await volunteer_of(session, world, "张伟")  # 晨光
    liu = await volunteer_of(session, world, "刘洋", community="桃园社区")
    chen_gang = await staff(session, world, "chen_gang")  # 桃园's social worker
    with pytest.raises(PermissionDenied):
        await training.record(session, chen_gang, **fields(), volunteer_ids=[liu.id, zhang.id], now=CLOCK.now())
    for outsider in (zhang, await staff(session, world, "wang_xiulan")):
        with pytest.raises(PermissionDenied) as caught:
            await training.record(session, outsider, **fields(), volunteer_ids=[zhang.id], now=CLOCK.now())
        assert caught.value.message == training.STAFF_ONLY
        with pytest.raises(PermissionDenied):
            await training.recent_for_worker(session, outsider)
    assert await count(session, Training) == 0 and await count(session, OutgoingMessage) == 0
    assert [v.user_id for v in await training.candidates(session, chen_gang)] == [liu.id]

    zhou = await staff(session, world, "zhou")  # the coordinator looks after every community
    saved = await training.record(session, zhou, **fields(), volunteer_ids=[zhang.id, liu.id], now=CLOCK.now())
    assert saved.recorded_by_id == zhou.id
    assert {v.user_id for v in await training.candidates(session, zhou)} == {zhang.id, liu.id}


@pytest.mark.parametrize(
    ("changes", "error", "says"),
    [
        ({"name": "   "}, InvalidInput, "name of the training"),
        ({"name": "培" * 101}, InvalidInput, "within {limit}"),
        ({"content": " \n "}, InvalidInput, "what the training covered"),
        ({"content": "内" * 1001}, InvalidInput, "within {limit}"),
        ({"organiser": ""}, InvalidInput, "who organised"),
        ({"organiser": "站" * 101}, InvalidInput, "within {limit}"),
        ({"minutes": 0}, InvalidInput, "more than 0 hours"),
        ({"minutes": 24 * 60 + 1}, InvalidInput, "at most {limit} hours"),
        ({"held_on": "tomorrow"}, InvalidInput, "once it has been held"),
        ({"held_on": "three years ago"}, InvalidInput, "too long ago"),
        ({"volunteers": []}, InvalidInput, "at least one volunteer"),
        ({"volunteers": ["pending"]}, InvalidState, "not an approved volunteer"),
        ({"volunteers": ["suspended"]}, InvalidState, "not an approved volunteer"),
        ({"volunteers": [999_999]}, NotFound, "could not be found"),
    ],
    ids=["no-name", "long-name", "no-content", "long-content", "no-organiser", "long-organiser", "zero-hours",
         "over-a-day", "future", "too-old", "nobody", "pending", "suspended", "unknown"],
)
async def test_a_bad_field_records_nothing_and_says_what_to_fix(world: SampleWorld, session: AsyncSession,
                                                                changes: dict[str, object], error: type,
                                                                says: str) -> None:
    zhang = await volunteer_of(session, world, "张伟")
    others = {"pending": await volunteer_of(session, world, "王芳", status=VolunteerStatus.PENDING),
              "suspended": await volunteer_of(session, world, "赵强", status=VolunteerStatus.SUSPENDED)}
    ids = [others[v].id if isinstance(v, str) else v for v in changes.pop("volunteers", [zhang.id])]
    when = changes.get("held_on")
    if when == "tomorrow":
        changes["held_on"] = today() + timedelta(days=1)
    elif when == "three years ago":
        changes["held_on"] = today() - timedelta(days=3 * 365)
    li_jing = await staff(session, world, "li_jing")
    with pytest.raises(error) as caught:
        await training.record(session, li_jing, **fields(**changes), volunteer_ids=ids, now=CLOCK.now())
    assert says in caught.value.message
    assert await count(session, Training) == 0 and await count(session, TrainingAttendee) == 0
    assert await count(session, OutgoingMessage) == 0


async def test_today_is_the_communitys_today(world: SampleWorld, session: AsyncSession) -> None:
    """At 01:00 in Shanghai it is still yesterday in UTC: a training held "today" is today in Shanghai."""
    zhang = await volunteer_of(session, world, "张伟")
    li_jing = await staff(session, world, "li_jing")
    now = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)  # 30 November, 01:00 in Shanghai
    saved = await training.record(session, li_jing, **fields(held_on=date(2026, 11, 30)), volunteer_ids=[zhang.id],
                                  now=now)
    assert saved.held_on == date(2026, 11, 30)
    with pytest.raises(InvalidInput):
        await training.record(session, li_jing, **fields(held_on=date(2026, 12, 1)), volunteer_ids=[zhang.id],
                              now=now)
