"""Routing a new request to a social worker: the levels, their fallbacks, and the record of why.

Each test builds the workers it needs in a community of its own (or uses the sample
world's), calls the service as filing will, and never commits.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.services import routing, users
from bot.services.routing import Choice, RouteLevel
from bot.services.world import SampleWorld
from models import (
    AreaType,
    AttachmentKind,
    Community,
    DistrictKind,
    EventKind,
    OutgoingMessage,
    RequestAttachment,
    RequestEvent,
    RequestStatus,
    Role,
    ServiceCategory,
    ServiceRequest,
    SocialWorker,
    SupportAssignment,
    User,
    UserRole,
    WorkerSpecialty,
)
from tests.conftest import CLOCK, next_telegram_id

NO_WORKER = "⚠️ New request {number} in {community} has no social worker on duty there.\nService: {service}\n“{description}”"
CARE = "elderly.community_care"
OTHER = "minors.community_care"

_serial = itertools.count(1)


# --- building a world for routing ----------------------------------------------------


async def community(session: AsyncSession, timezone: str = "Asia/Shanghai") -> Community:
    n = next(_serial)
    place = Community(
        name=f"测试社区{n}", name_en=f"Test Community {n}", district="测试街道", district_kind=DistrictKind.STREET,
        area_type=AreaType.URBAN, timezone=timezone, created_at=CLOCK.now(),
    )
    session.add(place)
    await session.flush()
    return place


async def category(session: AsyncSession, code: str = CARE) -> ServiceCategory:
    found = await session.scalar(select(ServiceCategory).where(ServiceCategory.code == code))
    assert found is not None, code
    return found


async def person(session: AsyncSession, name: str) -> User:
    return await users.touch_user(session, users.TelegramProfile(next_telegram_id(), name, None), now=CLOCK.now())


async def worker(
    session: AsyncSession,
    home: Community | None,
    name: str = "社工",
    *,
    on_duty: bool = True,
    capacity: int = 10,
    supervisor: bool = False,
    specialties: tuple[ServiceCategory, ...] = (),
) -> User:
    user = await person(session, name)
    await users.grant_role(session, user, Role.SOCIAL_WORKER, now=CLOCK.now())
    profile = user.social_worker
    assert profile is not None
    profile.home_community_id = home.id if home is not None else None
    profile.on_duty = on_duty
    profile.capacity = capacity
    profile.is_supervisor = supervisor
    session.add_all(WorkerSpecialty(worker_id=user.id, category_id=c.id) for c in specialties)
    await session.flush()
    return user


async def support(session: AsyncSession, who: User, where: Community, starts_on: date, ends_on: date) -> None:
    session.add(SupportAssignment(worker_id=who.id, community_id=where.id, starts_on=starts_on, ends_on=ends_on,
                                  created_at=CLOCK.now()))
    await session.flush()


async def request_in(
    session: AsyncSession,
    where: Community,
    service: ServiceCategory,
    *,
    status: RequestStatus = RequestStatus.NEW,
    assigned: User | None = None,
    description: str = "想请人帮忙买菜",
) -> ServiceRequest:
    resident = await person(session, "居民")
    request = ServiceRequest(
        number=f"T-{next(_serial):07d}", resident_id=resident.id, community_id=where.id, category_id=service.id,
        description=description, status=status, assigned_worker_id=assigned.id if assigned else None,
        draft_token=str(uuid.uuid4()), created_at=CLOCK.now(), updated_at=CLOCK.now(),
    )
    session.add(request)
    await session.flush()
    return request


async def give_cases(session: AsyncSession, who: User, count: int, elsewhere: Community | None = None,
                     status: RequestStatus = RequestStatus.ACCEPTED) -> None:
    """`count` cases assigned to `who` in `status` (in their home community unless told otherwise)."""
    assert who.social_worker is not None
    where = elsewhere or await session.get(Community, who.social_worker.home_community_id)
    assert where is not None
    for _ in range(count):
        await request_in(session, where, await category(session, OTHER), status=status, assigned=who)


async def choose(session: AsyncSession, request: ServiceRequest, *, exclude: frozenset[int] = frozenset(),
                 now: datetime | None = None) -> Choice:
    return await routing.choose_worker(session, request, exclude=exclude, now=now or CLOCK.now())


@contextmanager
def counting_statements(connection: AsyncConnection) -> Iterator[list[str]]:
    """Statements of this test's own connection (the running bot shares the engine: not its work)."""
    statements: list[str] = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    target = connection.sync_connection
    event.listen(target, "before_cursor_execute", before_cursor_execute)
    try:
        yield statements
    finally:
        event.remove(target, "before_cursor_execute", before_cursor_execute)


# --- level 1 and 2: the request's own community ----------------------------------------


async def test_a_specialist_on_duty_comes_before_a_less_busy_generalist(world: SampleWorld, session: AsyncSession) -> None:
    place = await community(session)
    care = await category(session)
    generalist = await worker(session, place, "通才")
    specialist = await worker(session, place, "专才", specialties=(care,))
    await give_cases(session, specialist, 3)
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(specialist.id, RouteLevel.SPECIALIST, 3)
    assert generalist.id != specialist.id


async def test_among_specialists_the_fewest_open_cases_win(world: SampleWorld, session: AsyncSession) -> None:
    place = await community(session)
    care = await category(session)
    busy = await worker(session, place, "忙", specialties=(care,))
    quiet = await worker(session, place, "闲", specialties=(care,))
    await give_cases(session, busy, 2)
    await give_cases(session, quiet, 1)
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(quiet.id, RouteLevel.SPECIALIST, 1)


async def test_a_tie_goes_to_the_lowest_user_id(world: SampleWorld, session: AsyncSession) -> None:
    place = await community(session)
    care = await category(session)
    first = await worker(session, place, "甲", specialties=(care,))
    second = await worker(session, place, "乙", specialties=(care,))
    await give_cases(session, first, 2)
    await give_cases(session, second, 2)
    request = await request_in(session, place, care)

    assert first.id < second.id
    assert await choose(session, request) == Choice(first.id, RouteLevel.SPECIALIST, 2)


async def test_a_specialist_of_another_category_counts_as_a_community_worker(
    world: SampleWorld, session: AsyncSession
) -> None:
    place = await community(session)
    care, other = await category(session), await category(session, OTHER)
    busy = await worker(session, place, "忙", specialties=(other,))
    quiet = await worker(session, place, "闲", specialties=(other,))
    await give_cases(session, busy, 1)
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(quiet.id, RouteLevel.COMMUNITY, 0)


async def test_a_specialist_at_capacity_falls_back_to_a_community_worker(
    world: SampleWorld, session: AsyncSession
) -> None:
    place = await community(session)
    care = await category(session)
    full = await worker(session, place, "满", capacity=2, specialties=(care,))
    await give_cases(session, full, 2)
    busy = await worker(session, place, "忙", capacity=5)
    await give_cases(session, busy, 4)
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(busy.id, RouteLevel.COMMUNITY, 4)


async def test_a_specialist_off_duty_falls_back_to_a_community_worker(
    world: SampleWorld, session: AsyncSession
) -> None:
    place = await community(session)
    care = await category(session)
    await worker(session, place, "休", on_duty=False, specialties=(care,))
    on_duty = await worker(session, place, "班")
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(on_duty.id, RouteLevel.COMMUNITY, 0)


async def test_only_offered_accepted_and_in_progress_cases_count_wherever_they_are(
    world: SampleWorld, session: AsyncSession
) -> None:
    place, elsewhere = await community(session), await community(session)
    care = await category(session)
    done = await worker(session, place, "结", capacity=2, specialties=(care,))
    for status in (RequestStatus.NEW, RequestStatus.RESOLVED, RequestStatus.CLOSED, RequestStatus.CANCELLED):
        await give_cases(session, done, 2, status=status)
    await give_cases(session, done, 1, elsewhere, status=RequestStatus.OFFERED)
    other = await worker(session, place, "另", capacity=3, specialties=(care,))
    await give_cases(session, other, 1, status=RequestStatus.IN_PROGRESS)
    request = await request_in(session, place, care)

    # `done`: one open case (offered, in another community); new, resolved, closed, cancelled ones do not count.
    assert await choose(session, request) == Choice(done.id, RouteLevel.SPECIALIST, 1)
    await give_cases(session, done, 1, status=RequestStatus.ACCEPTED)  # 2 of 2: full
    assert await choose(session, request) == Choice(other.id, RouteLevel.SPECIALIST, 1)
    await give_cases(session, other, 2, status=RequestStatus.OFFERED)  # 3 of 3
    assert (await choose(session, request)).level is RouteLevel.NOBODY


async def test_a_profile_without_the_social_worker_role_is_not_routed_to(
    world: SampleWorld, session: AsyncSession
) -> None:
    place = await community(session)
    care = await category(session)
    former = await worker(session, place, "离职", specialties=(care,))
    await session.execute(delete(UserRole).where(UserRole.user_id == former.id))
    still = await worker(session, place, "在职")
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(still.id, RouteLevel.COMMUNITY, 0)


async def test_workers_of_other_communities_are_not_chosen_without_a_support_assignment(
    world: SampleWorld, session: AsyncSession
) -> None:
    place, elsewhere = await community(session), await community(session)
    care = await category(session)
    await worker(session, elsewhere, "邻", specialties=(care,))
    await worker(session, None, "未定")  # a profile without a home community yet
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(None, RouteLevel.NOBODY, None)


# --- level 3: support assignments ----------------------------------------------------------


async def test_with_nobody_on_duty_at_home_a_supporting_worker_is_chosen(
    world: SampleWorld, session: AsyncSession
) -> None:
    place, elsewhere = await community(session), await community(session)
    care = await category(session)
    await worker(session, place, "休", on_duty=False, specialties=(care,))
    helper = await worker(session, elsewhere, "援")
    busier = await worker(session, elsewhere, "援二")
    await give_cases(session, busier, 1)
    today = routing.local_date(CLOCK.now(), place.timezone)
    await support(session, helper, place, today, today)
    await support(session, busier, place, today, today)
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(helper.id, RouteLevel.SUPPORT, 0)


async def test_a_supporting_worker_off_duty_or_at_capacity_or_elsewhere_is_skipped(
    world: SampleWorld, session: AsyncSession
) -> None:
    place, elsewhere, third = await community(session), await community(session), await community(session)
    care = await category(session)
    today = routing.local_date(CLOCK.now(), place.timezone)
    resting = await worker(session, elsewhere, "休", on_duty=False, specialties=(care,))
    full = await worker(session, elsewhere, "满", capacity=1, specialties=(care,))
    await give_cases(session, full, 1)
    other_place = await worker(session, elsewhere, "别处", specialties=(care,))
    for who in (resting, full):
        await support(session, who, place, today, today)
    await support(session, other_place, third, today, today)
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(None, RouteLevel.NOBODY, None)


async def test_a_support_assignment_counts_from_its_first_to_its_last_local_day(
    world: SampleWorld, session: AsyncSession
) -> None:
    # Asia/Shanghai is UTC+8: its 10 March begins at 16:00 UTC on 9 March.
    place = await community(session, "Asia/Shanghai")
    elsewhere = await community(session)
    care = await category(session)
    helper = await worker(session, elsewhere, "援")
    await support(session, helper, place, date(2026, 3, 10), date(2026, 3, 12))
    request = await request_in(session, place, care)

    def utc(*parts: int) -> datetime:
        return datetime(*parts, tzinfo=UTC)

    assert (await choose(session, request, now=utc(2026, 3, 9, 15, 59))).level is RouteLevel.NOBODY
    assert await choose(session, request, now=utc(2026, 3, 9, 16, 0)) == Choice(helper.id, RouteLevel.SUPPORT, 0)
    assert await choose(session, request, now=utc(2026, 3, 11, 12, 0)) == Choice(helper.id, RouteLevel.SUPPORT, 0)
    assert await choose(session, request, now=utc(2026, 3, 12, 15, 59)) == Choice(helper.id, RouteLevel.SUPPORT, 0)
    assert (await choose(session, request, now=utc(2026, 3, 12, 16, 0))).level is RouteLevel.NOBODY


async def test_support_days_follow_the_communitys_own_time_zone(world: SampleWorld, session: AsyncSession) -> None:
    place = await community(session, "UTC")
    elsewhere = await community(session)
    care = await category(session)
    helper = await worker(session, elsewhere, "援")
    await support(session, helper, place, date(2026, 3, 10), date(2026, 3, 12))
    request = await request_in(session, place, care)

    # The instants that were the first and the day after the last in Shanghai are 9 and 12 March in UTC.
    assert (await choose(session, request, now=datetime(2026, 3, 9, 16, 0, tzinfo=UTC))).level is RouteLevel.NOBODY
    assert (await choose(session, request, now=datetime(2026, 3, 12, 16, 0, tzinfo=UTC))).level is RouteLevel.SUPPORT


async def test_home_workers_with_room_come_before_supporting_ones(world: SampleWorld, session: AsyncSession) -> None:
    place, elsewhere = await community(session), await community(session)
    care = await category(session)
    helper = await worker(session, elsewhere, "援", specialties=(care,))
    await support(session, helper, place, date(2000, 1, 1), date(2100, 1, 1))
    home = await worker(session, place, "本社区")
    await give_cases(session, home, 9)
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(home.id, RouteLevel.COMMUNITY, 9)


# --- level 4: the station's supervisor ------------------------------------------------------


async def test_a_supervisor_off_duty_and_at_capacity_is_still_chosen_last(
    world: SampleWorld, session: AsyncSession
) -> None:
    place = await community(session)
    care = await category(session)
    boss = await worker(session, place, "站长", on_duty=False, capacity=1, supervisor=True, specialties=(care,))
    await give_cases(session, boss, 3)
    await worker(session, place, "休", on_duty=False)
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(boss.id, RouteLevel.SUPERVISOR, 3)


async def test_an_on_duty_supervisor_comes_before_an_idle_one_off_duty(
    world: SampleWorld, session: AsyncSession
) -> None:
    place, elsewhere = await community(session), await community(session)
    care = await category(session)
    away = await worker(session, place, "休站长", on_duty=False, supervisor=True)
    busy = await worker(session, place, "忙站长", capacity=2, supervisor=True)
    await give_cases(session, busy, 5)
    await worker(session, elsewhere, "别处站长", supervisor=True)  # supervises another station
    request = await request_in(session, place, care)

    assert away.id < busy.id
    assert await choose(session, request) == Choice(busy.id, RouteLevel.SUPERVISOR, 5)


async def test_supervisors_tie_break_on_open_cases_then_user_id(world: SampleWorld, session: AsyncSession) -> None:
    place = await community(session)
    care = await category(session)
    first = await worker(session, place, "甲", on_duty=False, supervisor=True)
    second = await worker(session, place, "乙", on_duty=False, supervisor=True)
    third = await worker(session, place, "丙", on_duty=False, supervisor=True)
    await give_cases(session, first, 2)
    await give_cases(session, second, 1)
    await give_cases(session, third, 1)
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(second.id, RouteLevel.SUPERVISOR, 1)


async def test_a_supervisor_with_room_on_duty_is_routed_like_any_worker(
    world: SampleWorld, session: AsyncSession
) -> None:
    place = await community(session)
    care = await category(session)
    boss = await worker(session, place, "站长", supervisor=True, specialties=(care,))
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(boss.id, RouteLevel.SPECIALIST, 0)


async def test_a_supporting_worker_comes_before_the_supervisor(world: SampleWorld, session: AsyncSession) -> None:
    place, elsewhere = await community(session), await community(session)
    care = await category(session)
    await worker(session, place, "站长", on_duty=False, supervisor=True)
    helper = await worker(session, elsewhere, "援")
    await give_cases(session, helper, 7)
    today = routing.local_date(CLOCK.now(), place.timezone)
    await support(session, helper, place, today, today)
    request = await request_in(session, place, care)

    assert await choose(session, request) == Choice(helper.id, RouteLevel.SUPPORT, 7)


# --- re-routing: excluded workers -----------------------------------------------------------


async def test_excluded_workers_are_skipped_at_every_level(world: SampleWorld, session: AsyncSession) -> None:
    place, elsewhere = await community(session), await community(session)
    care = await category(session)
    specialist = await worker(session, place, "专", specialties=(care,))
    generalist = await worker(session, place, "通")
    helper = await worker(session, elsewhere, "援")
    await support(session, helper, place, date(2000, 1, 1), date(2100, 1, 1))
    boss = await worker(session, place, "站长", on_duty=False, supervisor=True)
    request = await request_in(session, place, care)

    declined: set[int] = set()
    for expected, level in ((specialist, RouteLevel.SPECIALIST), (generalist, RouteLevel.COMMUNITY),
                            (helper, RouteLevel.SUPPORT), (boss, RouteLevel.SUPERVISOR)):
        assert await choose(session, request, exclude=frozenset(declined)) == Choice(expected.id, level, 0)
        declined.add(expected.id)
    assert await choose(session, request, exclude=frozenset(declined)) == Choice(None, RouteLevel.NOBODY, None)


# --- the record, and the coordinators when there is nobody ----------------------------------


async def routed_events(session: AsyncSession, request: ServiceRequest) -> list[RequestEvent]:
    await session.flush()
    stmt = select(RequestEvent).where(RequestEvent.request_id == request.id, RequestEvent.kind == EventKind.ROUTED)
    return list((await session.scalars(stmt.order_by(RequestEvent.id))).all())


async def outbox_after(session: AsyncSession, marker: int) -> list[OutgoingMessage]:
    await session.flush()
    stmt = select(OutgoingMessage).where(OutgoingMessage.id > marker).order_by(OutgoingMessage.id)
    return list((await session.scalars(stmt)).all())


async def outbox_marker(session: AsyncSession) -> int:
    return max((await session.scalars(select(OutgoingMessage.id))).all(), default=0)


async def test_the_sample_worlds_requests_go_to_its_social_workers(world: SampleWorld, session: AsyncSession) -> None:
    care = await category(session)
    chenguang = await session.get(Community, world.communities["晨光社区"].id)
    taoyuan = await session.get(Community, world.communities["桃园社区"].id)
    assert chenguang is not None and taoyuan is not None

    first = await routing.route_request(session, await request_in(session, chenguang, care), now=CLOCK.now())
    assert first == Choice(world.people["li_jing"].id, RouteLevel.COMMUNITY, 0)
    # 陈刚 (the supervisor) and 赵敏 have no cases: the lower user id wins; the next request goes to her.
    chen, zhao = world.people["chen_gang"].id, world.people["zhao_min"].id
    assert chen < zhao
    first_taoyuan = await request_in(session, taoyuan, care)
    assert await routing.choose_worker(session, first_taoyuan, now=CLOCK.now()) == Choice(chen, RouteLevel.COMMUNITY, 0)
    first_taoyuan.assigned_worker_id, first_taoyuan.status = chen, RequestStatus.OFFERED
    second_taoyuan = await request_in(session, taoyuan, care)
    assert await routing.choose_worker(session, second_taoyuan, now=CLOCK.now()) == Choice(zhao, RouteLevel.COMMUNITY, 0)


async def test_each_choice_is_recorded_with_whom_and_why(world: SampleWorld, session: AsyncSession) -> None:
    place = await community(session)
    care = await category(session)
    specialist = await worker(session, place, "专", specialties=(care,))
    boss = await worker(session, place, "站长", on_duty=False, supervisor=True)
    request = await request_in(session, place, care)
    marker = await outbox_marker(session)
    now = CLOCK.now()

    assert (await routing.route_request(session, request, now=now)).worker_id == specialist.id
    assert (await routing.route_request(session, request, exclude=frozenset({specialist.id}), now=now)).worker_id == boss.id

    events = await routed_events(session, request)
    assert [(e.subject_id, e.reason, e.actor_id) for e in events] == [
        (specialist.id, "specialist", None), (boss.id, "supervisor", None)
    ]
    assert all(e.created_at == now and e.note is None for e in events)
    assert await outbox_after(session, marker) == []  # the offer, and its notice, come later
    await session.refresh(request)
    assert (request.status, request.assigned_worker_id) == (RequestStatus.NEW, None)


async def test_with_nobody_at_all_the_coordinators_are_alerted_and_the_request_waits(
    world: SampleWorld, session: AsyncSession
) -> None:
    liulin = await session.get(Community, world.communities["柳林村"].id)
    assert liulin is not None
    care = await category(session)
    second_coordinator = await person(session, "副主任")
    await users.grant_role(session, second_coordinator, Role.COORDINATOR, now=CLOCK.now())
    request = await request_in(session, liulin, care, description="老人独居，需要上门看看")
    marker = await outbox_marker(session)

    choice = await routing.route_request(session, request, now=CLOCK.now())

    assert choice == Choice(None, RouteLevel.NOBODY, None)
    [routed] = await routed_events(session, request)
    assert (routed.subject_id, routed.reason) == (None, "nobody")
    notices = await outbox_after(session, marker)
    assert sorted(n.user_id for n in notices) == sorted([world.people["zhou"].id, second_coordinator.id])
    for notice in notices:
        assert notice.template == NO_WORKER
        assert notice.params == {
            "number": request.number,
            "community": {"$l": {"zh_CN": "柳林村", "en": "Liulin Village"}},
            "service": {"$l": {"zh_CN": care.name_zh, "en": care.name_en}},
            "description": "老人独居，需要上门看看",
        }
        assert notice.buttons == [{"label": "Open request", "action": "request.view", "ref": request.id}]
    await session.refresh(request)
    assert request.status is RequestStatus.NEW  # waiting, in the coordinators' queue


async def test_the_coordinators_alert_names_the_media_filed_with_the_request(
    world: SampleWorld, session: AsyncSession
) -> None:
    place = await community(session)
    care = await category(session)
    request = await request_in(session, place, care, description="")
    session.add_all([
        RequestAttachment(request_id=request.id, kind=AttachmentKind.VOICE, file_id="v", file_unique_id="v",
                          duration=12, created_at=CLOCK.now()),
        RequestAttachment(request_id=request.id, kind=AttachmentKind.PHOTO, file_id="p", file_unique_id="p",
                          created_at=CLOCK.now()),
    ])
    marker = await outbox_marker(session)

    await routing.route_request(session, request, now=CLOCK.now())

    [notice] = await outbox_after(session, marker)  # 周主任, the one coordinator
    assert notice.params["description"] == {
        "$l": {"zh_CN": "[语音1条（0:12）、照片1张]", "en": "[1 voice message (0:12), 1 photo]"}
    }


# --- bounded work: the same statements for 3 workers as for 300 -------------------------------


async def crowd(session: AsyncSession, size: int, place: Community, elsewhere: Community,
                care: ServiceCategory) -> list[User]:
    """`size` workers: by turns supporting `place` from elsewhere, at home with the specialty, at home
    without it; every other one at capacity."""
    today = routing.local_date(CLOCK.now(), place.timezone)
    workers = []
    for i in range(size):
        home = place if i % 3 else elsewhere
        who = await worker(session, home, f"社工{i}", capacity=2, specialties=(care,) if i % 3 == 1 else ())
        if i % 3 == 0:
            await support(session, who, place, today, today)
        if i % 2:
            await give_cases(session, who, 2)
        workers.append(who)
    return workers


async def test_routing_takes_the_same_few_statements_for_3_and_300_workers(
    world: SampleWorld, session: AsyncSession
) -> None:
    care = await category(session)
    # With 3 the only specialist (1) is full: the generalist 2; with 300, specialist 4 is the first with room.
    expected = {3: (2, RouteLevel.COMMUNITY), 300: (4, RouteLevel.SPECIALIST)}
    counts: dict[int, tuple[int, int]] = {}
    for size, (index, level) in expected.items():
        place, elsewhere = await community(session), await community(session)
        workers = await crowd(session, size, place, elsewhere, care)
        request = await request_in(session, place, care)
        await session.flush()

        with counting_statements(await session.connection()) as chose:
            choice = await routing.choose_worker(session, request, now=CLOCK.now())
        assert choice == Choice(workers[index].id, level, 0)

        # With everyone excluded: the alert path (coordinators, media, the event) as well.
        everyone = frozenset((await session.scalars(select(SocialWorker.user_id))).all())
        with counting_statements(await session.connection()) as routed:
            nobody = await routing.route_request(session, request, exclude=everyone, now=CLOCK.now())
            await session.flush()
        assert nobody.level is RouteLevel.NOBODY
        counts[size] = (len(chose), len(routed))

    assert counts[3] == counts[300]
    assert counts[3][0] == 1
    # The choice; the event's INSERT (autoflush); the coordinators with their roles and profiles (selectin);
    # the request's media; the outbox INSERT.
    assert counts[3][1] == 7, counts
