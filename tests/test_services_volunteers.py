"""Volunteer registration and review, as services: every check says what to fix, nothing is half-saved."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import users, volunteers
from bot.services.errors import InvalidInput, InvalidState, PermissionDenied
from bot.services.volunteers import Registration, Window
from bot.services.world import SampleWorld
from models import (
    IdDocument,
    OutgoingMessage,
    Role,
    ServiceCategory,
    Sex,
    User,
    Volunteer,
    VolunteerAvailability,
    VolunteerStatus,
)
from tests.conftest import CLOCK, next_telegram_id

# A made-up mainland resident ID with a correct check digit: Taiyuan (140105), born 1990-03-07.
VALID_ID = "14010519900307008X"


def with_check_digit(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def test_the_made_up_id_is_valid() -> None:
    assert with_check_digit(VALID_ID[:17]) == VALID_ID
    assert volunteers.resident_id_birth_date(VALID_ID) == date(1990, 3, 7)


@pytest.mark.parametrize(
    ("number", "says"),
    [
        ("1401051990030700", "18 characters"),
        ("14010519900307001Y", "18 characters"),
        ("140105199003070011", "does not match"),  # wrong check digit
        (with_check_digit("99010519900307001"), "province"),
        (with_check_digit("14010519900230001"), "not a real date"),  # 30 February
    ],
)
def test_a_resident_id_of_the_wrong_shape_or_check_digit_is_refused(number: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        volunteers.resident_id_birth_date(number)
    assert says in caught.value.message


def test_the_birth_date_must_match_the_resident_id() -> None:
    assert volunteers.check_id_number(IdDocument.RESIDENT_ID, " 140105 19900307 008x ", date(1990, 3, 7)) == VALID_ID
    with pytest.raises(InvalidInput) as caught:
        volunteers.check_id_number(IdDocument.RESIDENT_ID, VALID_ID, date(1990, 3, 8))
    assert caught.value.params == {"born": "1990-03-07", "given": "1990-03-08"}


@pytest.mark.parametrize(
    ("kind", "number", "ok"),
    [
        (IdDocument.HK_MACAU, "H12345678", True),
        (IdDocument.HK_MACAU, "X12345678", False),
        (IdDocument.TAIWAN, "12345678", True),
        (IdDocument.PASSPORT, "E12345678", True),
        (IdDocument.PASSPORT, "E1", False),
        (IdDocument.FOREIGN_PERMANENT, "USA123456789012", True),
        (IdDocument.FOREIGN_PERMANENT, "12345", False),
    ],
)
def test_other_documents_are_checked_for_their_shape(kind: IdDocument, number: str, ok: bool) -> None:
    if ok:
        assert volunteers.check_id_number(kind, number.lower(), date(1990, 3, 7)) == number
    else:
        with pytest.raises(InvalidInput):
            volunteers.check_id_number(kind, number, date(1990, 3, 7))


def test_only_the_last_four_characters_are_kept() -> None:
    assert volunteers.mask(VALID_ID) == "*" * 14 + "008X"


def test_dates_of_birth() -> None:
    today = date(2026, 11, 30)
    assert volunteers.check_birth_date(date(1990, 3, 7), today) == 36
    assert volunteers.age_on(date(2010, 12, 1), today) == 15
    for wrong in (today + timedelta(days=1), date(1900, 1, 1), date(2022, 1, 1)):
        with pytest.raises(InvalidInput):
            volunteers.check_birth_date(wrong, today)


def test_time_windows_must_end_after_they_start_and_not_overlap() -> None:
    monday = [Window(0, time(9), time(12)), Window(0, time(14), time(17))]
    assert volunteers.check_windows(reversed(monday)) == tuple(monday)
    with pytest.raises(InvalidInput) as caught:
        volunteers.check_windows([Window(2, time(18), time(9))])
    assert caught.value.params == {"start": "18:00", "end": "09:00"}
    with pytest.raises(InvalidInput):
        volunteers.check_windows([Window(0, time(9), time(12)), Window(0, time(11), time(13))])
    with pytest.raises(InvalidInput):
        volunteers.check_windows([Window(7, time(9), time(12))])


# --- registering and reviewing ----------------------------------------------------------------------


async def newcomer(session: AsyncSession, name: str = "张伟") -> User:
    return await users.touch_user(session, users.TelegramProfile(next_telegram_id(), name), now=CLOCK.now())


async def form(session: AsyncSession, world: SampleWorld, **changes: object) -> Registration:
    care = await session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == "elderly.community_care"))
    values: dict[str, object] = dict(
        real_name="张伟", sex=Sex.MALE, birth_date=date(1990, 3, 7), id_type=IdDocument.RESIDENT_ID,
        id_number=VALID_ID, phone="139 1234 5678", community_id=world.communities["晨光社区"].id,
        skills=("errands", "driving"), skills_other="会修自行车", interests=(care,),
        availability=(Window(5, time(9), time(12)),), consent=True,
    )
    values.update(changes)
    return Registration(**values)  # type: ignore[arg-type]


async def count(session: AsyncSession, model: type) -> int:
    return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_a_registration_is_kept_masked_and_goes_to_the_communitys_social_workers(
    world: SampleWorld, session: AsyncSession
) -> None:
    person = await newcomer(session)
    before = await count(session, OutgoingMessage)
    volunteer = await volunteers.register(session, person, await form(session, world), now=CLOCK.now())

    assert volunteer.status is VolunteerStatus.PENDING
    assert volunteer.id_number_masked == "**************008X" and VALID_ID not in str(volunteer.__dict__)
    assert volunteer.phone == "+8613912345678" and volunteer.skills == ["errands", "driving"]
    assert [(w.weekday, w.starts_at) for w in await volunteers.windows_of(session, person.id)] == [(5, time(9))]
    notices = (await session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id).offset(before))).all()
    assert [n.user_id for n in notices] == [world.people["li_jing"].id]
    assert [b["action"] for b in notices[0].buttons] == ["volunteer.approve", "volunteer.reject"]


@pytest.mark.parametrize(
    "changes",
    [
        {"birth_date": date(2090, 1, 1)},
        {"id_number": "140105199003070011"},
        {"phone": "12345"},
        {"availability": (Window(1, time(18), time(8)),)},
        {"consent": False},
        {"skills": ("juggling",)},
        {"real_name": "   "},
        {"birth_date": date(2012, 5, 5), "id_number": with_check_digit("14010520120505002")},  # 14, no guardian
    ],
    ids=["future-birth", "check-digit", "phone", "window", "no-consent", "unknown-skill", "no-name", "minor"],
)
async def test_a_bad_field_refuses_the_whole_registration(world: SampleWorld, session: AsyncSession, changes) -> None:
    person = await newcomer(session)
    with pytest.raises(InvalidInput):
        await volunteers.register(session, person, await form(session, world, **changes), now=CLOCK.now())
    assert await count(session, Volunteer) == 0 and await count(session, VolunteerAvailability) == 0


async def test_a_minor_registers_with_a_guardians_consent(world: SampleWorld, session: AsyncSession) -> None:
    person = await newcomer(session, "张小明")
    minor = dict(real_name="张小明", birth_date=date(2012, 5, 5), id_number=with_check_digit("14010520120505002"),
                 guardian_name="张伟", guardian_phone="13912345678", guardian_consent=True)
    volunteer = await volunteers.register(session, person, await form(session, world, **minor), now=CLOCK.now())
    assert (volunteer.guardian_name, volunteer.guardian_phone) == ("张伟", "+8613912345678")
    assert volunteer.guardian_consent_at == CLOCK.now()


async def test_approval_gives_a_number_and_the_role_only_a_reviewer_may_give(world: SampleWorld,
                                                                            session: AsyncSession) -> None:
    person = await newcomer(session)
    await volunteers.register(session, person, await form(session, world), now=CLOCK.now())
    chen_gang = await session.get(User, world.people["chen_gang"].id)  # 桃园's: not his community
    for outsider in (chen_gang, await newcomer(session, "路人")):
        with pytest.raises(PermissionDenied):
            await volunteers.approve(session, outsider, person.id, now=CLOCK.now())

    li_jing = await session.get(User, world.people["li_jing"].id)
    volunteer = await volunteers.approve(session, li_jing, person.id, now=CLOCK.now())
    assert volunteer.status is VolunteerStatus.APPROVED
    year = CLOCK.now().astimezone(ZoneInfo("Asia/Shanghai")).year
    assert re.fullmatch(rf"ZY{year}\d{{6}}", volunteer.volunteer_number)
    assert person.has_role(Role.VOLUNTEER)
    with pytest.raises(InvalidState):
        await volunteers.approve(session, li_jing, person.id, now=CLOCK.now())
    with pytest.raises(InvalidState):
        await volunteers.register(session, person, await form(session, world), now=CLOCK.now())

    with pytest.raises(InvalidInput):
        await volunteers.suspend(session, li_jing, person.id, "  ", now=CLOCK.now())
    await volunteers.suspend(session, li_jing, person.id, "连续三次未到岗", now=CLOCK.now())
    assert volunteer.status is VolunteerStatus.SUSPENDED and volunteer.status_reason == "连续三次未到岗"
    await volunteers.reinstate(session, li_jing, person.id, now=CLOCK.now())
    assert volunteer.status is VolunteerStatus.APPROVED and volunteer.volunteer_number is not None


async def test_a_rejected_volunteer_may_correct_and_register_again(world: SampleWorld, session: AsyncSession) -> None:
    person = await newcomer(session)
    await volunteers.register(session, person, await form(session, world), now=CLOCK.now())
    li_jing = await session.get(User, world.people["li_jing"].id)
    await volunteers.reject(session, li_jing, person.id, "请填写真实姓名", now=CLOCK.now())
    again = await volunteers.register(session, person, await form(session, world, real_name="张伟明"),
                                      now=CLOCK.now())
    assert (again.status, again.real_name, again.status_reason) == (VolunteerStatus.PENDING, "张伟明", None)
    assert not person.has_role(Role.VOLUNTEER)
