"""The services of the sample world, called as a handler would call them: one session, one transaction.

Every test acts as fresh residents (new Telegram ids) in the shared world of DESIGN.md and
never commits, so nothing it writes — requests, notices for 李静 — outlives the test.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import communities, invites, requests, users
from bot.services.errors import InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.world import SampleWorld
from models import (
    EventKind,
    Invite,
    OutboxStatus,
    OutgoingMessage,
    Reminder,
    RequestStatus,
    Role,
    ServiceCategory,
    ServiceRequest,
    SocialWorker,
    User,
    UserRole,
)
from tests.conftest import CLOCK, next_telegram_id

OFFER = ("📋 Request {number} in {community} is offered to you.\nService: {service}\n“{description}”\n"
         "Please accept or decline within {minutes} minutes.")
NO_WORKER = "⚠️ New request {number} in {community} has no social worker on duty there.\nService: {service}\n“{description}”"
CANCELLED = "Request {number} was cancelled by the resident."


# --- the people and things of a story --------------------------------------------


async def newcomer(session: AsyncSession, name: str = "新居民", last_name: str | None = None) -> User:
    """Someone who has just written to the bot for the first time."""
    return await users.touch_user(session, users.TelegramProfile(next_telegram_id(), name, last_name), now=CLOCK.now())


async def resident_of(session: AsyncSession, world: SampleWorld, community: str, name: str = "居民") -> User:
    user = await newcomer(session, name)
    await users.set_home_community(session, user, world.communities[community].id)
    await session.flush()
    return user


async def person(session: AsyncSession, world: SampleWorld, key: str) -> User:
    """One of the sample world's people, loaded in this test's session."""
    user = await session.get(User, world.people[key].id)
    assert user is not None
    return user


async def coordinator(session: AsyncSession, world: SampleWorld) -> User:
    user = await resident_of(session, world, "晨光社区", "新主任")
    await users.grant_role(session, user, Role.COORDINATOR, now=CLOCK.now())
    return user


async def category(session: AsyncSession, code: str) -> ServiceCategory:
    found = await session.scalar(select(ServiceCategory).where(ServiceCategory.code == code))
    assert found is not None, code
    return found


async def draft(session: AsyncSession, code: str = "elderly.community_care",
                description: str = "上周摔了一跤，想请人帮忙买菜和陪同去医院复查") -> requests.RequestDraft:
    return requests.RequestDraft(
        token=str(uuid.uuid4()), category_id=(await category(session, code)).id, description=description
    )


async def last_outbox_id(session: AsyncSession) -> int:
    return await session.scalar(select(func.max(OutgoingMessage.id))) or 0


async def outbox_since(session: AsyncSession, marker: int) -> list[OutgoingMessage]:
    """Notices written after `marker` (this test is the only writer while it runs)."""
    await session.flush()
    stmt = select(OutgoingMessage).where(OutgoingMessage.id > marker).order_by(OutgoingMessage.id)
    return list((await session.scalars(stmt)).all())


async def all_coordinators(session: AsyncSession) -> set[int]:
    return set((await session.scalars(select(UserRole.user_id).where(UserRole.role == Role.COORDINATOR))).all())


def sequence(number: str) -> int:
    return int(number.split("-")[1])


# --- (a) filing a request ----------------------------------------------------------


async def test_a_request_gets_the_next_public_number_of_the_local_year(
    world: SampleWorld, session: AsyncSession
) -> None:
    wang = await resident_of(session, world, "晨光社区", "王阿姨")
    neighbour = await resident_of(session, world, "晨光社区", "刘大爷")

    first = await requests.file_request(session, wang, await draft(session), now=CLOCK.now())
    second = await requests.file_request(session, neighbour, await draft(session, description="想找人聊聊天"), now=CLOCK.now())
    third = await requests.file_request(session, wang, await draft(session, "elderly.counselling", "心里闷得慌"), now=CLOCK.now())

    year = CLOCK.now().astimezone(ZoneInfo("Asia/Shanghai")).year  # numbers follow the one clock
    numbers = [f.request.number for f in (first, second, third)]
    for number in numbers:
        assert re.fullmatch(rf"{year}-\d{{6}}", number), number
    assert [sequence(n) for n in numbers] == [sequence(numbers[0]) + i for i in range(3)]
    assert len(set(numbers)) == 3
    assert all(f.created for f in (first, second, third))
    assert first.request.status is RequestStatus.OFFERED  # to 晨光's social worker on duty
    assert first.request.respond_by == first.request.created_at + timedelta(minutes=1440)


async def test_confirming_the_same_draft_twice_files_one_request(world: SampleWorld, session: AsyncSession) -> None:
    wang = await resident_of(session, world, "晨光社区", "王阿姨")
    the_draft = await draft(session)
    marker = await last_outbox_id(session)

    filed = await requests.file_request(session, wang, the_draft, now=CLOCK.now())
    notices_after_first = len(await outbox_since(session, marker))
    again = await requests.file_request(session, wang, the_draft, now=CLOCK.now())

    assert filed.created is True
    assert again.created is False
    assert again.request.id == filed.request.id
    assert again.request.number == filed.request.number
    mine = await session.scalar(select(func.count()).select_from(ServiceRequest).where(ServiceRequest.resident_id == wang.id))
    assert mine == 1
    assert len(await outbox_since(session, marker)) == notices_after_first, "no second announcement"


async def test_a_resident_without_a_community_is_asked_to_choose_one(world: SampleWorld, session: AsyncSession) -> None:
    stranger = await newcomer(session, "路人")

    with pytest.raises(InvalidState):
        await requests.file_request(session, stranger, await draft(session), now=CLOCK.now())


# --- (b) the offer is part of the same transaction -------------------------------------


async def test_the_routed_social_worker_is_offered_the_case_in_the_same_transaction(
    world: SampleWorld, session: AsyncSession
) -> None:
    li_jing = await person(session, world, "li_jing")
    chen_gang = await person(session, world, "chen_gang")
    wang = await resident_of(session, world, "晨光社区", "王阿姨")
    marker = await last_outbox_id(session)

    filed = await requests.file_request(session, wang, await draft(session, description="需要人帮忙买菜 <急>"), now=CLOCK.now())

    request = filed.request
    notices = await outbox_since(session, marker)
    assert {n.user_id for n in notices} == {li_jing.id}, "one worker is offered the case; 桃园's are not told"
    assert chen_gang.id != li_jing.id
    offer = notices[0]
    assert offer.chat_id == li_jing.telegram_id
    assert offer.template == OFFER
    assert offer.status is OutboxStatus.PENDING
    assert offer.params["number"] == request.number
    assert offer.params["community"] == {"$l": {"zh_CN": "晨光社区", "en": "Chenguang Community"}}
    assert offer.params["minutes"] == 30
    assert "resident" not in offer.params, "the resident's name goes only to the worker who accepts"
    assert offer.params["description"] == "需要人帮忙买菜 <急>"  # escaped when rendered, not stored
    assert offer.buttons == [
        {"label": "✅ Accept", "action": "case.accept", "ref": request.id},
        {"label": "↩️ Decline", "action": "case.decline", "ref": request.id},
        {"label": "Open request", "action": "request.view", "ref": request.id},
    ]
    assert session.info.get("outbox_written") is True, "the middleware wakes the sender after commit"
    assert (request.status, request.assigned_worker_id) == (RequestStatus.OFFERED, li_jing.id)

    await session.refresh(request, ["events"])
    assert [e.kind for e in request.events] == [
        EventKind.CREATED, EventKind.ROUTED, EventKind.STATUS_CHANGED, EventKind.OFFERED
    ]
    assert request.events[-1].subject_id == li_jing.id
    reminders = (await session.scalars(select(Reminder).where(Reminder.request_id == request.id)
                                       .order_by(Reminder.due_at))).all()
    assert [(r.kind, r.due_at - CLOCK.now()) for r in reminders] == [
        ("offer_timeout", timedelta(minutes=30)), ("response_due", timedelta(minutes=1440)),
    ]


async def test_nothing_is_announced_when_the_transaction_rolls_back(world: SampleWorld, session: AsyncSession) -> None:
    wang = await resident_of(session, world, "晨光社区", "王阿姨")
    marker = await last_outbox_id(session)
    filed = await requests.file_request(session, wang, await draft(session), now=CLOCK.now())
    number = filed.request.number
    assert await outbox_since(session, marker), "written inside the transaction"

    await session.rollback()  # e.g. the handler failed after filing

    assert await outbox_since(session, marker) == []
    assert await session.scalar(select(ServiceRequest).where(ServiceRequest.number == number)) is None


async def test_with_the_social_worker_off_duty_the_coordinators_are_told(
    world: SampleWorld, session: AsyncSession
) -> None:
    li_jing = await person(session, world, "li_jing")
    zhou = await person(session, world, "zhou")
    # 李静 (and anyone else based in 晨光) is off duty today.
    await session.execute(
        update(SocialWorker)
        .where(SocialWorker.home_community_id == world.communities["晨光社区"].id)
        .values(on_duty=False)
    )
    wang = await resident_of(session, world, "晨光社区", "王阿姨")
    marker = await last_outbox_id(session)

    filed = await requests.file_request(session, wang, await draft(session), now=CLOCK.now())

    notices = await outbox_since(session, marker)
    recipients = {n.user_id for n in notices}
    assert li_jing.id not in recipients
    assert zhou.id in recipients
    assert recipients == await all_coordinators(session)
    assert {n.template for n in notices} == {NO_WORKER}
    assert all(n.params["number"] == filed.request.number for n in notices)
    await session.refresh(filed.request, ["events"])
    routed = [e for e in filed.request.events if e.kind is EventKind.ROUTED]
    assert [(e.subject_id, e.reason) for e in routed] == [(None, "nobody")]
    assert (filed.request.status, filed.request.assigned_worker_id) == (RequestStatus.NEW, None)


async def test_a_village_with_no_social_worker_based_there_reaches_the_coordinators(
    world: SampleWorld, session: AsyncSession
) -> None:
    zhou = await person(session, world, "zhou")
    # Nobody on duty is based in 柳林村 (赵敏 only supports it from 桃园).
    await session.execute(
        update(SocialWorker)
        .where(SocialWorker.home_community_id == world.communities["柳林村"].id)
        .values(on_duty=False)
    )
    grandmother = await resident_of(session, world, "柳林村", "马奶奶")
    marker = await last_outbox_id(session)

    await requests.file_request(session, grandmother, await draft(session, "left_behind_children.study", "孙子作业没人辅导"), now=CLOCK.now())

    notices = await outbox_since(session, marker)
    assert zhou.id in {n.user_id for n in notices}
    assert {n.template for n in notices} == {NO_WORKER}


# --- (c) the description --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [None, "", "   ", " \n\t\u3000 ", "字" * 501, "🙏", "🙏🙏🙏❤️👍🏻", "？！。"],
    ids=["none", "empty", "spaces", "whitespace-and-ideographic-space", "501-chars", "one-emoji", "emoji-only",
         "punctuation-only"],
)
def test_a_description_that_says_nothing_or_too_much_is_refused(text: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        requests.clean_description(text)

    assert caught.value.message  # a msgid the handler translates


def test_a_too_long_description_says_the_limit() -> None:
    with pytest.raises(InvalidInput) as caught:
        requests.clean_description("帮" * 501)

    assert "{limit}" in caught.value.message
    assert caught.value.params["limit"] == 500


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("买菜", "买菜"),
        ("  上周摔了一跤，想请人帮忙买菜🙏  ", "上周摔了一跤，想请人帮忙买菜🙏"),
        ("字" * 500, "字" * 500),
        ("  " + "字" * 500 + "\n", "字" * 500),
        ("Need help with shopping", "Need help with shopping"),
    ],
    ids=["two-characters", "trimmed", "500-chars", "500-chars-with-spaces", "english"],
)
def test_a_description_in_words_is_kept_trimmed(text: str, stored: str) -> None:
    assert requests.clean_description(text) == stored


async def test_a_bad_description_files_nothing(world: SampleWorld, session: AsyncSession) -> None:
    wang = await resident_of(session, world, "晨光社区", "王阿姨")

    with pytest.raises(InvalidInput):
        await requests.file_request(session, wang, await draft(session, description="🙏🙏"), now=CLOCK.now())

    assert (await requests.list_for_resident(session, wang)).items == []


# --- (d) what is offered where ------------------------------------------------------


@pytest.mark.parametrize(
    ("community", "code"),
    [
        ("柳林村", "elderly.rehabilitation"),
        ("柳林村", "elderly.community_care"),  # villages have the left-behind elderly services instead
        ("柳林村", "minors.counselling"),
        ("晨光社区", "left_behind_children.study"),
    ],
)
async def test_a_service_not_offered_in_the_community_is_refused(
    world: SampleWorld, session: AsyncSession, community: str, code: str
) -> None:
    resident = await resident_of(session, world, community)

    with pytest.raises(InvalidInput, match="not offered"):
        await requests.file_request(session, resident, await draft(session, code), now=CLOCK.now())

    assert (await requests.list_for_resident(session, resident)).items == []


async def test_an_unknown_service_is_refused(world: SampleWorld, session: AsyncSession) -> None:
    resident = await resident_of(session, world, "晨光社区")
    stale = requests.RequestDraft(token=str(uuid.uuid4()), category_id=10**9, description="帮帮忙")

    with pytest.raises(InvalidInput):
        await requests.file_request(session, resident, stale, now=CLOCK.now())


async def test_a_village_may_ask_for_what_villages_are_offered(world: SampleWorld, session: AsyncSession) -> None:
    grandmother = await resident_of(session, world, "柳林村", "马奶奶")

    filed = await requests.file_request(session, grandmother, await draft(session, "left_behind_elderly.daily_care"), now=CLOCK.now())

    assert filed.created and filed.request.community_id == world.communities["柳林村"].id


# --- (e) cancelling ------------------------------------------------------------------


async def test_the_resident_cancels_an_open_request_and_the_social_worker_is_told(
    world: SampleWorld, session: AsyncSession
) -> None:
    li_jing = await person(session, world, "li_jing")
    wang = await resident_of(session, world, "晨光社区", "王阿姨")
    neighbour = await resident_of(session, world, "晨光社区", "刘大爷")
    filed = await requests.file_request(session, wang, await draft(session), now=CLOCK.now())
    request_id = filed.request.id

    with pytest.raises(PermissionDenied):
        await requests.cancel_request(session, neighbour, request_id, now=CLOCK.now())

    marker = await last_outbox_id(session)
    cancelled = await requests.cancel_request(session, wang, request_id, now=CLOCK.now())

    assert cancelled.status is RequestStatus.CANCELLED
    assert cancelled.cancelled_at is not None
    assert cancelled.version == 3  # filed, offered, cancelled
    notices = await outbox_since(session, marker)
    assert li_jing.id in {n.user_id for n in notices}
    assert {n.template for n in notices} == {CANCELLED}
    assert all(n.params == {"number": filed.request.number} for n in notices)

    with pytest.raises(InvalidState) as caught:
        await requests.cancel_request(session, wang, request_id, now=CLOCK.now())
    assert caught.value.params == {"number": filed.request.number}

    # The timeline, as a later update (a fresh read) sees it.
    session.expunge_all()
    seen = await requests.get_visible(session, await session.get(User, wang.id), request_id)
    assert [e.kind for e in seen.events] == [
        EventKind.CREATED, EventKind.ROUTED, EventKind.STATUS_CHANGED, EventKind.OFFERED, EventKind.CANCELLED
    ]
    cancel_event = seen.events[-1]
    assert cancel_event.actor_id == wang.id
    assert (cancel_event.from_status, cancel_event.to_status) == (RequestStatus.OFFERED, RequestStatus.CANCELLED)
    assert seen.events[0].to_status is RequestStatus.NEW


async def test_cancelling_a_request_that_does_not_exist(world: SampleWorld, session: AsyncSession) -> None:
    wang = await resident_of(session, world, "晨光社区")

    with pytest.raises(NotFound):
        await requests.cancel_request(session, wang, 10**9, now=CLOCK.now())


# --- (f) who may open a request ---------------------------------------------------------


async def test_a_request_is_seen_by_its_resident_the_communitys_worker_and_coordinators_only(
    world: SampleWorld, session: AsyncSession
) -> None:
    wang = await resident_of(session, world, "晨光社区", "王阿姨")
    neighbour = await resident_of(session, world, "晨光社区", "刘大爷")
    filed = await requests.file_request(session, wang, await draft(session), now=CLOCK.now())
    request_id = filed.request.id

    for allowed in (wang, await person(session, world, "li_jing"), await person(session, world, "zhou"),
                    await coordinator(session, world)):
        seen = await requests.get_visible(session, allowed, request_id)
        assert seen.id == request_id and seen.resident.id == wang.id

    for refused in (await person(session, world, "chen_gang"), await person(session, world, "zhao_min"), neighbour,
                    await person(session, world, "ma_xiaojun")):
        with pytest.raises(PermissionDenied):
            await requests.get_visible(session, refused, request_id)

    with pytest.raises(NotFound):
        await requests.get_visible(session, wang, 10**9)


# --- (g) staff invites --------------------------------------------------------------


async def test_only_a_coordinator_can_invite_staff(world: SampleWorld, session: AsyncSession) -> None:
    resident = await resident_of(session, world, "晨光社区")
    li_jing = await person(session, world, "li_jing")
    boss = await coordinator(session, world)

    for not_allowed in (resident, li_jing):
        with pytest.raises(PermissionDenied):
            await invites.create_invite(session, not_allowed, Role.SOCIAL_WORKER, ttl_hours=72, now=CLOCK.now())
    with pytest.raises(InvalidInput):
        await invites.create_invite(session, boss, Role.VOLUNTEER, ttl_hours=72, now=CLOCK.now())

    invite = await invites.create_invite(session, boss, Role.SOCIAL_WORKER, ttl_hours=72, now=CLOCK.now())
    assert invite.expires_at - invite.created_at == timedelta(hours=72)
    assert invite.used_at is None and len(invite.token) >= 20


async def test_an_invite_makes_a_social_worker_once_and_tells_its_creator(
    world: SampleWorld, session: AsyncSession
) -> None:
    boss = await coordinator(session, world)
    invite = await invites.create_invite(session, boss, Role.SOCIAL_WORKER, ttl_hours=72, now=CLOCK.now())
    newcomer_worker = await resident_of(session, world, "桃园社区", "小林")
    someone_else = await resident_of(session, world, "桃园社区", "小黄")
    marker = await last_outbox_id(session)

    redeemed = await invites.redeem_invite(session, newcomer_worker, invite.token, now=CLOCK.now())

    assert redeemed.used_by_id == newcomer_worker.id and redeemed.used_at is not None
    assert newcomer_worker.has_role(Role.SOCIAL_WORKER)
    assert newcomer_worker.social_worker is not None
    # Where they work is their own choice next, not assumed from where they live.
    assert newcomer_worker.social_worker.home_community_id is None
    await users.set_work_community(session, newcomer_worker, world.communities["桃园社区"].id)
    assert newcomer_worker.social_worker.home_community_id == world.communities["桃园社区"].id
    with pytest.raises(InvalidState):  # and only once: changing it is the coordinator's call
        await users.set_work_community(session, newcomer_worker, world.communities["晨光社区"].id)
    told = await outbox_since(session, marker)
    assert [(n.user_id, n.template) for n in told] == [(boss.id, "{name} joined as {role} through your invitation.")]
    assert told[0].params == {"name": "小林", "role": {"$l": {"zh_CN": "社工", "en": "social worker"}}}

    # Pressing the same link again is harmless: no second role, no second notice.
    again = await invites.redeem_invite(session, newcomer_worker, invite.token, now=CLOCK.now())
    assert again.id == invite.id
    roles = await session.scalar(
        select(func.count()).select_from(UserRole).where(UserRole.user_id == newcomer_worker.id)
    )
    assert roles == 1
    assert len(await outbox_since(session, marker)) == 1

    # The link was forwarded: a second person cannot use it.
    with pytest.raises(InvalidState, match="already been used"):
        await invites.redeem_invite(session, someone_else, invite.token, now=CLOCK.now())
    assert not someone_else.has_role(Role.SOCIAL_WORKER)


async def test_an_expired_or_unknown_invite_is_refused(world: SampleWorld, session: AsyncSession) -> None:
    boss = await coordinator(session, world)
    invite = await invites.create_invite(session, boss, Role.COORDINATOR, ttl_hours=1, now=CLOCK.now())
    token = invite.token
    late = await resident_of(session, world, "晨光社区", "迟到的人")
    await session.execute(
        update(Invite).where(Invite.id == invite.id).values(expires_at=CLOCK.now() - timedelta(minutes=1))
    )
    session.expire(invite)  # read it back from the database, as another update would

    with pytest.raises(InvalidState, match="expired"):
        await invites.redeem_invite(session, late, token, now=CLOCK.now())
    with pytest.raises(InvalidInput):
        await invites.redeem_invite(session, late, "no-such-token", now=CLOCK.now())

    assert not late.has_role(Role.COORDINATOR)
    await session.refresh(invite)
    assert invite.used_at is None


# --- (h) finding one's community ------------------------------------------------------


@pytest.mark.parametrize("query", ["晨光", "晨光社区", "chenguang", "CHENGUANG", " Chenguang Community ", "和平街道",
                                   "heping"])
async def test_a_community_is_found_by_its_chinese_or_english_name_or_street(
    world: SampleWorld, session: AsyncSession, query: str
) -> None:
    found = await communities.search(session, query)

    assert "晨光社区" in [c.name for c in found]
    assert "柳林村" not in [c.name for c in found]


async def test_a_street_finds_all_its_communities(world: SampleWorld, session: AsyncSession) -> None:
    names = [c.name for c in await communities.search(session, "和平街道")]

    assert {"晨光社区", "桃园社区"} <= set(names)


async def test_a_village_is_found_with_or_without_its_suffix(world: SampleWorld, session: AsyncSession) -> None:
    assert "柳林村" in [c.name for c in await communities.search(session, "柳林村")]
    assert "柳林村" in [c.name for c in await communities.search(session, "柳林")]


@pytest.mark.parametrize("query", ["%", "_", "%%", "晨%", "晨_社区", "不存在的地方", "", "   "])
async def test_wildcards_and_unknown_names_find_nothing(world: SampleWorld, session: AsyncSession, query: str) -> None:
    assert await communities.search(session, query) == []


# --- (i) people ------------------------------------------------------------------------


async def test_first_contact_creates_the_person_and_later_contact_refreshes_the_names(session: AsyncSession) -> None:
    telegram_id = next_telegram_id()

    first = await users.touch_user(session, users.TelegramProfile(telegram_id, "秀兰", "王", "xiulan"), now=CLOCK.now())
    first.blocked_bot_at = CLOCK.now()
    await session.flush()
    again = await users.touch_user(session, users.TelegramProfile(telegram_id, "Xiulan", None, None), now=CLOCK.now())
    await session.flush()

    assert again.id == first.id
    rows = (await session.execute(
        select(User.first_name, User.last_name, User.username, User.blocked_bot_at).where(User.telegram_id == telegram_id)
    )).all()
    assert rows == [("Xiulan", None, None, None)], "one row; writing to us means the bot is not blocked"
    assert again.roles == {Role.RESIDENT}
    assert again.display_name == "Xiulan"


async def test_granting_a_role_twice_changes_nothing_the_second_time(world: SampleWorld, session: AsyncSession) -> None:
    user = await resident_of(session, world, "晨光社区", "小张")

    assert await users.grant_role(session, user, Role.SOCIAL_WORKER, now=CLOCK.now()) is True
    assert await users.grant_role(session, user, Role.SOCIAL_WORKER, now=CLOCK.now()) is False
    assert await users.grant_role(session, user, Role.RESIDENT, now=CLOCK.now()) is False

    rows = await session.scalar(select(func.count()).select_from(UserRole).where(UserRole.user_id == user.id))
    assert rows == 1
    profiles = await session.scalar(
        select(func.count()).select_from(SocialWorker).where(SocialWorker.user_id == user.id)
    )
    assert profiles == 1
    assert user.social_worker.home_community_id is None  # chosen with set_work_community
    await users.set_work_community(session, user, world.communities["晨光社区"].id)
    assert user.social_worker.organization_id == world.communities["晨光社区"].organization_id
    # Moving house does not move the caseload.
    await users.set_home_community(session, user, world.communities["桃园社区"].id)
    assert user.social_worker.home_community_id == world.communities["晨光社区"].id
    assert user.roles == {Role.RESIDENT, Role.SOCIAL_WORKER}


async def test_a_person_picks_a_supported_language_only(session: AsyncSession) -> None:
    user = await newcomer(session)

    users.set_locale(user, "en")
    assert user.locale == "en"
    with pytest.raises(InvalidInput):
        users.set_locale(user, "fr")
    assert user.locale == "en"


# --- found by mutation testing ---------------------------------------------------------


async def test_sharing_a_phone_records_the_consent(world: SampleWorld, session: AsyncSession) -> None:
    wang = await resident_of(session, world, "晨光社区", "留电话的人")
    base = await draft(session)
    with_phone = requests.RequestDraft(token=base.token, category_id=base.category_id,
                                       description=base.description, phone="+8613911112222")

    filed = await requests.file_request(session, wang, with_phone, now=CLOCK.now())

    assert filed.request.contact_phone == "+8613911112222"
    assert wang.phone == "+8613911112222" and wang.phone_consent_at is not None


async def test_a_request_without_a_phone_records_no_consent(world: SampleWorld, session: AsyncSession) -> None:
    quiet = await resident_of(session, world, "晨光社区", "不留电话的人")
    await requests.file_request(session, quiet, await draft(session), now=CLOCK.now())
    assert quiet.phone is None and quiet.phone_consent_at is None


@pytest.mark.parametrize("status", [RequestStatus.RESOLVED, RequestStatus.CLOSED, RequestStatus.CANCELLED])
async def test_a_request_past_resolution_cannot_be_cancelled(
    world: SampleWorld, session: AsyncSession, status: RequestStatus
) -> None:
    wang = await resident_of(session, world, "晨光社区", "已解决的人")
    filed = await requests.file_request(session, wang, await draft(session), now=CLOCK.now())
    filed.request.status = status
    await session.flush()

    assert not requests.can_cancel(wang, filed.request)
    with pytest.raises(InvalidState):
        await requests.cancel_request(session, wang, filed.request.id, now=CLOCK.now())


async def test_the_community_list_pages_through_every_community(world: SampleWorld, session: AsyncSession) -> None:
    first = await communities.list_page(session, 0, per_page=2)
    second = await communities.list_page(session, 1, per_page=2)
    beyond = await communities.list_page(session, 99, per_page=2)  # an old button past the end

    assert first.pages == second.pages >= 2 and first.page == 0 and second.page == 1
    assert {c.id for c in first.items}.isdisjoint({c.id for c in second.items})
    assert beyond.page == first.pages - 1 and beyond.items
    everyone = [c for p in range(first.pages) for c in (await communities.list_page(session, p, per_page=2)).items]
    assert {c.name for c in everyone} >= {"晨光社区", "桃园社区", "柳林村"}
