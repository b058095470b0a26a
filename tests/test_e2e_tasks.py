"""Volunteer tasks end to end: a social worker asks volunteers for a case from its card, the
offers go out, the first to accept get the places and the rest the waitlist, reminders ask
"still coming?", a withdrawal promotes the waitlist; bad input, forged buttons and a hundred
volunteers pressing Accept at once.

Time moves with the test clock; reminders are swept by the test (`app.sweeper.sweep()`).
"""

from __future__ import annotations

import asyncio
import re
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.services import tasks
from bot.services.notices import Notice, NoticeButton, enqueue
from handlers.callbacks import AssignmentCB, CaseCB, TaskCB
from models import AssignmentStatus, Community, RequestEvent, TaskAssignment, User, VolunteerTask
from tests.conftest import CLOCK
from tests.support import T, has_button, settled
from tests.test_e2e_casework import filed_and_accepted, open_own
from tests.test_e2e_offers import colleague
from tests.test_services_tasks import POLICY, make_volunteer, next_saturday

pytestmark = pytest.mark.usefixtures("app")

TZ = ZoneInfo("Asia/Shanghai")


async def volunteer_person(session, emulator, name: str, community: str, world, lang: str = "zh_CN", **kwargs):  # noqa: ANN001, ANN003, ANN201
    place = await session.get(Community, world.communities[community].id)
    user = await make_volunteer(session, name, place, **kwargs)
    user.locale = lang
    telegram_id = user.telegram_id
    await session.commit()
    return emulator.user(telegram_id, name, language_code="en" if lang == "en" else "zh-hans")


async def assignments(session, task_id: int) -> dict[int, AssignmentStatus]:  # noqa: ANN001
    session.expire_all()
    rows = (await session.execute(select(TaskAssignment.volunteer_id, TaskAssignment.status)
                                  .where(TaskAssignment.task_id == task_id))).all()
    await session.commit()
    return dict(rows)


async def only_task(session) -> VolunteerTask | None:  # noqa: ANN001
    session.expire_all()
    task = await session.scalar(select(VolunteerTask).order_by(VolunteerTask.id.desc()).limit(1))
    if task is not None:
        session.expunge(task)  # a snapshot the test may read after later expire_all()
    await session.commit()
    return task


async def pick_day(person, day, lang: str) -> None:  # noqa: ANN001
    """Tap `day` on the calendar, turning to its month first if needed."""
    today = CLOCK.now().astimezone(TZ).date()
    if (day.year, day.month) != (today.year, today.month):
        await person.press(f"{day:%Y-%m} >>")
        await person.wait_for_message(has_button(f"🗓 {day:%Y-%m}"))
    await person.press(f"{day:%d}")


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_case_gets_a_volunteer_who_is_reminded_and_withdraws_and_the_waitlist_fills_the_place(
    emulator, session, world, app, lang
):
    li_jing, resident, number, card = await filed_and_accepted(emulator, world, lang=lang)
    first = await volunteer_person(session, emulator, "张伟", "晨光社区", world, lang,
                                   offered_at=CLOCK.now() - timedelta(days=40))
    second = await volunteer_person(session, emulator, "刘芳", "晨光社区", world, lang,
                                    offered_at=CLOCK.now() - timedelta(days=30))
    starts = next_saturday(9)
    day = starts.astimezone(TZ).date()

    # 李静 asks volunteers from the case card: title from the service, place, day on the calendar, 09:00, 2 hours.
    await li_jing.press(T("🙋 Ask volunteers"), message_id=card.message_id)
    await li_jing.wait_for_message(T("🙋 Volunteers for request {number}.", number=number))
    await li_jing.send_text("陪王阿姨买菜")
    await li_jing.wait_for_message(T("Where? Type the address or meeting point. You can also share a location on "
                                     "the map."))
    await li_jing.send_text("晨光社区3号楼")
    await li_jing.wait_for_message(T("Which day? Tap it, or type it like 2026-12-05."))
    await pick_day(li_jing, day, "zh_CN")
    await li_jing.wait_for_message(has_button("09:00"))
    await li_jing.press("09:00")
    await li_jing.wait_for_message(has_button(T("{hours} h", hours="2")))
    await li_jing.press(T("{hours} h", hours="2"))
    await li_jing.wait_for_message(T("How many volunteers are needed? Tap it, or type a number."))
    await li_jing.press("1")
    await li_jing.wait_for_message(has_button("▫️ " + T("Shopping and errands")))
    await li_jing.press("▫️ " + T("Shopping and errands"))
    await li_jing.wait_for_message(has_button("✅ " + T("Shopping and errands")))
    await li_jing.press(T("Next ➡️"))
    summary = await li_jing.wait_for_message(T("Please check the task:"))
    assert "陪王阿姨买菜" in summary.text and T("Volunteers needed: {needed}", needed=1) in summary.text
    first_mark, second_mark = first.mark(), second.mark()
    await li_jing.press(T("✅ Create and offer"))
    await li_jing.wait_for_message(T("✅ Task created and offered to {count} volunteer(s). You will be told as they "
                                     "accept.", count=2))
    task = await only_task(session)
    assert (task.request_id, task.needed, task.skills, task.starts_at) == (card_request_id := task.request_id,
                                                                          1, ["errands"], starts)
    assert card_request_id is not None

    # Both are offered it (needed 1: a wave of two); 张伟 accepts first, 刘芳 joins the waitlist.
    offer = await first.wait_for_message(has_button(T("✅ I can help", lang)), after=first_mark, timeout=10)
    assert "陪王阿姨买菜" in offer.text
    other_offer = await second.wait_for_message(has_button(T("✅ I can help", lang)), after=second_mark, timeout=10)
    worker_mark, resident_mark = li_jing.mark(), resident.mark()
    await first.press(T("✅ I can help", lang), message_id=offer.message_id)
    await first.wait_for_message(T("✅ You have a place: {title}, {when}. You will be reminded before it starts.", lang,
                                   title="陪王阿姨买菜", when=_when(task, lang)))
    await second.press(T("✅ I can help", lang), message_id=other_offer.message_id)
    await second.wait_for_message(T("⏳ All places are taken: you are number {position} on the waitlist. You will be "
                                    "told here if a place opens.", lang, position=1))
    await li_jing.wait_for_message(T("🙋 {name} will come to “{title}” ({filled} of {needed} places filled).",
                                     name="张伟", title="陪王阿姨买菜", filled=1, needed=1), after=worker_mark)
    told = await resident.wait_for_message(number, after=resident_mark, timeout=10)
    assert "张" in told.text and "张伟" not in told.text  # the family name only
    # The resident's timeline says a volunteer is coming, without the full name.
    own = await open_own(resident, number, lang)
    assert T("a volunteer, {name}, will come at {when}", lang, name="张", when=_start(task, lang)) in own.text
    assert "张伟" not in own.text

    # A second press of the offer's button changes nothing and says so.
    again = await first.press_data(AssignmentCB(action="accept", id=await _assignment_id(session, task.id, first))
                                   .pack(), message_id=offer.message_id)
    answer = await first.wait_for_callback_answer(again)
    assert answer.text == T("You already have a place in “{title}”.", lang, title="陪王阿姨买菜")
    # "I can't come" asks first; "No, I am coming" keeps the place.
    await first.press(T("↩️ I can't come", lang))
    await first.wait_for_message(has_button(T("Yes, give up my place", lang)))
    await first.press(T("No, I am coming", lang))
    await first.wait_for_message(has_button(T("↩️ I can't come", lang)))
    assert (await assignments(session, task.id))[await _user(session, first)] is AssignmentStatus.ACCEPTED

    # The day before: a reminder with "still coming?" — once, however often the sweeper runs.
    CLOCK.set(starts - timedelta(days=1))
    reminder_mark = first.mark()
    await app.sweeper.sweep()
    await app.sweeper.sweep()
    reminder = await first.wait_for_message(has_button(T("✅ Still coming", lang)), after=reminder_mark, timeout=10)
    await first.wait_idle()
    assert sum(1 for m in first.messages if m.seq > reminder_mark and T("✅ Still coming", lang) in m.buttons) == 1
    assert second.messages[-1].seq < reminder_mark or T("✅ Still coming", lang) not in second.messages[-1].buttons

    # 张伟 cannot come after all: 刘芳 moves up and both she and 李静 are told.
    worker_mark, second_mark = li_jing.mark(), second.mark()
    await first.press(T("↩️ I can't come", lang), message_id=reminder.message_id)
    await first.wait_for_message(has_button(T("Yes, give up my place", lang)))
    await first.press(T("Yes, give up my place", lang))
    await first.wait_for_message(T("You gave up your place in “{title}”; the social worker has been told. Thank you "
                                   "for saying so in time.", lang, title="陪王阿姨买菜"))
    await second.wait_for_message(has_button(T("↩️ I can't come", lang)), after=second_mark, timeout=10)
    await li_jing.wait_for_message(T("↩️ {name} can no longer come to “{title}” ({start}). {promoted} moved up from "
                                     "the waitlist and has the place.", name="张伟", title="陪王阿姨买菜",
                                     start=_start(task, "zh_CN"), promoted="刘芳"), after=worker_mark, timeout=10)
    first_user = await _user(session, first)
    second_user = await _user(session, second)
    assert await assignments(session, task.id) == {first_user: AssignmentStatus.WITHDRAWN,
                                                   second_user: AssignmentStatus.ACCEPTED}

    # An hour before: only 刘芳 is reminded (张伟's reminder died with the withdrawal).
    CLOCK.set(starts - timedelta(hours=1))
    first_mark, second_mark = first.mark(), second.mark()
    await app.sweeper.sweep()
    await app.sweeper.sweep()
    await second.wait_for_message(has_button(T("✅ Still coming", lang)), after=second_mark, timeout=10)
    await second.wait_idle()
    assert sum(1 for m in second.messages if m.seq > second_mark and T("✅ Still coming", lang) in m.buttons) == 1
    await second.press(T("✅ Still coming", lang))
    await second.wait_for_message(T("✅ You said you are coming.", lang))
    await first.wait_idle()
    assert not [m for m in first.messages if m.seq > first_mark]

    # The case timeline holds the task's story (the case's own deadlines passed meanwhile, too).
    events = [k for k in await _kinds(session, task.request_id) if "task" in k or "volunteer" in k]
    assert events == ["task_created", "volunteer_coming", "volunteer_withdrawn", "volunteer_coming"]


def _when(task: VolunteerTask, lang: str) -> str:
    from bot.i18n import format_local_period

    return format_local_period(task.starts_at, task.ends_at, lang, "Asia/Shanghai")


def _start(task: VolunteerTask, lang: str) -> str:
    from bot.i18n import format_local_time

    return format_local_time(task.starts_at, lang, "Asia/Shanghai")


async def _assignment_id(session, task_id: int, person) -> int:  # noqa: ANN001
    user_id = await _user(session, person)
    found = await session.scalar(select(TaskAssignment.id).where(TaskAssignment.task_id == task_id,
                                                                 TaskAssignment.volunteer_id == user_id))
    await session.commit()
    return found


async def _user(session, person) -> int:  # noqa: ANN001
    await settled(person)
    session.expire_all()
    user_id = await session.scalar(select(User.id).where(User.telegram_id == person.id))
    await session.commit()
    return user_id


async def _kinds(session, request_id: int) -> list[str]:  # noqa: ANN001
    session.expire_all()
    rows = (await session.scalars(select(RequestEvent.kind).where(RequestEvent.request_id == request_id)
                                  .order_by(RequestEvent.id))).all()
    await session.commit()
    return [str(k) for k in rows]


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_bad_input_while_creating_an_activity_is_refused_step_by_step_and_nothing_is_saved(
    emulator, session, world, lang
):
    sun, _sun_id = await colleague(session, world, emulator, "孙丽", locale=lang)
    await sun.send_text("/tasks")
    await sun.wait_for_message(has_button(T("➕ New activity", lang)))
    await sun.press(T("➕ New activity", lang))
    await sun.wait_for_message(has_button(T("Community activity", lang)))
    await sun.press(T("Community activity", lang))
    await sun.wait_for_message(T("What should the volunteers do? Type a short title, like “Accompany Mrs Wang to "
                                 "hospital”.", lang))
    await sun.send_text("很长" * 60)
    await sun.wait_for_message(T("Please keep the title within {limit} characters.", lang, limit=100))
    await sun.send_photo()
    await sun.wait_for_message(T("Please type it in words.", lang))
    await sun.send_text("重阳节敬老")
    await sun.wait_for_message(T("Where? Type the address or meeting point. You can also share a location on the "
                                 "map.", lang))
    await sun.send_location(37.87, 112.55)
    await sun.wait_for_message(T("📍 Location received.", lang))
    await sun.send_text("活动中心")
    await sun.wait_for_message(T("Which day? Tap it, or type it like 2026-12-05.", lang))
    await sun.send_text("下周")
    await sun.wait_for_message(T("Please tap a day, or type it like 2026-12-05.", lang))
    await sun.send_text("2020-01-01")
    await sun.wait_for_message(T("That day has passed. Please choose today or a later day.", lang))
    await sun.send_text("2031-02-30")
    await sun.wait_for_message("2031-02-30")
    day = next_saturday(9).astimezone(TZ).date()
    await sun.send_text(day.isoformat())
    await sun.wait_for_message(has_button("09:30"))
    await sun.send_text("25:00")
    await sun.wait_for_message(T("Please tap a time, or type it like 09:30.", lang))
    await sun.send_text("9点半")
    await sun.wait_for_message(T("How long? Tap it, or type the end time like 11:30.", lang))
    await sun.send_text("08:00")
    await sun.wait_for_message(T("The end must be after the start.", lang))
    await sun.send_text("23:59")  # more than 12 hours
    await sun.wait_for_message(T("A task lasts at most {hours} hours: for longer, make one task per day.", lang,
                                 hours=12))
    await sun.send_text("11:30")
    await sun.wait_for_message(T("How many volunteers are needed? Tap it, or type a number.", lang))
    await sun.send_text("0")
    await sun.wait_for_message(T("A task needs at least one volunteer.", lang))
    await sun.send_text("两个")
    await sun.wait_for_message(T("Please give the number of volunteers needed as a number, like 2.", lang))
    await sun.send_text("51")
    await sun.wait_for_message(T("At most {limit} volunteers per task: for more, make several tasks.", lang, limit=50))
    # Back from the skills keeps what was typed; Cancel saves nothing.
    await sun.send_text("2")
    await sun.wait_for_message(T("Which skills must they have? Tap all that are required (none: anyone can help), "
                                 "then “Next”.", lang))
    await sun.press(T("Next ➡️", lang))
    summary = await sun.wait_for_message(T("Please check the task:", lang))
    assert "重阳节敬老" in summary.text and T("📍 Location received.", lang) in summary.text
    await sun.press(T("✖️ Cancel", lang))
    await sun.wait_for_message(T("Cancelled: nothing was sent or saved.", lang))
    assert await only_task(session) is None


async def test_forged_task_buttons_are_refused_and_change_nothing(emulator, session, world, app):
    li_jing, resident, number, card = await filed_and_accepted(emulator, world)
    volunteer = await volunteer_person(session, emulator, "张伟", "晨光社区", world)
    other = await volunteer_person(session, emulator, "刘芳", "晨光社区", world, skills=("cooking",))
    li_jing_row = await session.get(User, world.people["li_jing"].id)
    chenguang = await session.get(Community, world.communities["晨光社区"].id)
    task, offered = await tasks.create(session, li_jing_row, tasks.TaskForm(
        kind=tasks.TaskKind.COMMUNITY, title="敬老", place="活动中心", starts_at=next_saturday(9),
        ends_at=next_saturday(11), needed=1, skills=("errands",)), now=CLOCK.now(), policy=POLICY)
    assert offered == 1 and chenguang is not None
    task_id = task.id
    await session.commit()
    offer = await volunteer.wait_for_message(has_button(T("✅ I can help")), timeout=10)
    mine = next(iter((await assignments(session, task_id)).items()))
    assignment_id = await session.scalar(select(TaskAssignment.id).where(TaskAssignment.task_id == task_id))
    await session.commit()

    # The volunteer forges staff buttons on their offer; the other volunteer forges an answer to it.
    await other.send_text("/tasks")
    listing = await other.wait_for_message(T("You have no upcoming tasks. When a task fits your skills and free "
                                             "time, it will be offered to you here."))
    for person, data, message_id in (
        (volunteer, TaskCB(action="add", id=task_id).pack(), offer.message_id),
        (volunteer, TaskCB(action="cancel", id=task_id).pack(), offer.message_id),
        (volunteer, TaskCB(action="more", id=task_id).pack(), offer.message_id),
        (volunteer, TaskCB(action="view", id=task_id).pack(), offer.message_id),
        (volunteer, CaseCB(action="task", id=await _request_id(session, number)).pack(), offer.message_id),
        (other, AssignmentCB(action="accept", id=assignment_id).pack(), listing.message_id),
        (other, AssignmentCB(action="withdraw_yes", id=assignment_id).pack(), listing.message_id),
        (resident, TaskCB(action="new", id=0).pack(), resident.messages[-1].message_id),
    ):
        query = await person.press_data(data, message_id=message_id)
        answer = await person.wait_for_callback_answer(query)
        assert answer.show_alert and answer.text, data
    assert await assignments(session, task_id) == {mine[0]: AssignmentStatus.OFFERED}
    session.expire_all()
    assert (await session.get(VolunteerTask, task_id)).status.value == "open"
    assert await session.scalar(select(func.count()).select_from(VolunteerTask)) == 1
    await session.commit()
    # The real volunteer's press still works.
    await volunteer.press(T("✅ I can help"), message_id=offer.message_id)
    await volunteer.wait_for_message(T("✅ You have a place: {title}, {when}. You will be reminded before it starts.",
                                       title="敬老", when=_when(task, "zh_CN")))


async def _request_id(session, number: str) -> int:  # noqa: ANN001
    from models import ServiceRequest

    session.expire_all()
    request_id = await session.scalar(select(ServiceRequest.id).where(ServiceRequest.number == number))
    await session.commit()
    return request_id


async def test_a_hundred_volunteers_pressing_accept_at_once_fill_three_places_and_wait_in_line(
    emulator, session, world, app
):
    chenguang = await session.get(Community, world.communities["晨光社区"].id)
    li_jing = await session.get(User, world.people["li_jing"].id)
    people = []
    for n in range(100):
        user = await make_volunteer(session, f"志愿者{n:03d}", chenguang)
        user.locale = "zh_CN"
        people.append(user)
    task = VolunteerTask(kind=tasks.TaskKind.COMMUNITY, title="大扫除", place="小区广场", starts_at=next_saturday(9),
                         ends_at=next_saturday(11), needed=3, skills=[], community_id=chenguang.id,
                         community=chenguang, created_by_id=li_jing.id, created_at=CLOCK.now(),
                         updated_at=CLOCK.now())
    session.add(task)
    await session.flush()
    offers = [TaskAssignment(task_id=task.id, volunteer_id=p.id, offered_at=CLOCK.now(), wave=1) for p in people]
    session.add_all(offers)
    await session.flush()
    enqueue(session, *(Notice(p, "🙋 Can you help?\n<b>{title}</b>", {"title": "大扫除"},
                              (NoticeButton("✅ I can help", "task.accept", a.id),)) for p, a in zip(people, offers,
                                                                                          strict=True)),
            now=CLOCK.now())
    task_id = task.id
    when = _when(task, "zh_CN")
    telegram_ids = [p.telegram_id for p in people]
    await session.commit()
    app.sender.wake()
    volunteers = [emulator.user(t, f"v{t}", language_code="zh-hans") for t in telegram_ids]
    notices = await asyncio.gather(*(v.wait_for_message(has_button(T("✅ I can help")), timeout=30) for v in volunteers))

    queries = [await v.press(T("✅ I can help"), message_id=n.message_id) for v, n in zip(volunteers, notices,
                                                                                     strict=True)]
    answers = await asyncio.gather(*(v.wait_for_callback_answer(q, timeout=60) for v, q in zip(volunteers, queries,
                                                                                                strict=True)))
    assert all(a.text == T("Thank you!") for a in answers)
    for v in volunteers:
        await settled(v)
    found = await assignments(session, task_id)
    counts = {status: sum(1 for s in found.values() if s is status) for status in AssignmentStatus}
    assert counts[AssignmentStatus.ACCEPTED] == 3 and counts[AssignmentStatus.WAITLISTED] == 97
    # Each was told where they stand: three places, waitlist numbers 1…97 each once.
    said = [v.messages[-1].text for v in volunteers]
    placed = [s for s in said if s.endswith(T("✅ You have a place: {title}, {when}. You will be reminded before it "
                                              "starts.", title="大扫除", when=when))]
    positions = sorted(int(m.group(1)) for s in said if (m := re.search(r"候补第 (\d+) 位", s)))
    assert len(placed) == 3 and positions == list(range(1, 98))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_volunteer_shares_where_they_set_out_from_and_sees_their_tasks(emulator, session, world, lang):
    from models import Volunteer

    person = await volunteer_person(session, emulator, "张伟", "晨光社区", world, lang)
    li_jing = await session.get(User, world.people["li_jing"].id)
    task, offered = await tasks.create(session, li_jing, tasks.TaskForm(
        kind=tasks.TaskKind.COMMUNITY, title="敬老", place="活动中心", starts_at=next_saturday(9),
        ends_at=next_saturday(11), needed=1, skills=("errands",)), now=CLOCK.now(), policy=POLICY)
    assert offered == 1
    when = _when(task, lang)
    await session.commit()
    await person.wait_for_message(has_button(T("✅ I can help", lang)), timeout=10)

    await person.send_text("/volunteer")
    await person.wait_for_message(has_button(T("📋 My tasks", lang)))
    await person.press(T("📋 My tasks", lang))
    listing = await person.wait_for_message(T("Your volunteer tasks:", lang))
    assert "敬老" in listing.text and when in listing.text and T("🙋 offered to you", lang) in listing.text
    await person.press(T("✅ Accept: {title}", lang, title="敬老"))
    await person.wait_for_message(T("✅ You have a place: {title}, {when}. You will be reminded before it starts.", lang,
                                    title="敬老", when=when))
    await person.send_text("/tasks")
    listing = await person.wait_for_message(T("Your volunteer tasks:", lang))
    assert T("✅ you have a place", lang) in listing.text

    await person.send_text("/volunteer")
    await person.wait_for_message(has_button(T("✏️ Change my phone, skills or services", lang)))
    await person.press(T("✏️ Change my phone, skills or services", lang))
    await person.wait_for_message(T("Share a location (📎 → Location) to be offered nearby tasks first.", lang))
    await person.send_location(37.8712, 112.5491)
    await person.wait_for_message(T("📍 Where you set out from: shared", lang))
    await person.press(T("💾 Save", lang))
    await person.wait_for_message(T("Saved: your volunteer details are up to date.", lang))
    user_id = await _user(session, person)
    row = await session.get(Volunteer, user_id, populate_existing=True)
    assert (row.latitude, row.longitude) == (37.8712, 112.5491)
    await session.commit()


async def test_the_social_worker_adds_a_volunteer_then_cancels_the_task_from_its_card(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    offered = await volunteer_person(session, emulator, "张伟", "晨光社区", world)
    by_phone = await volunteer_person(session, emulator, "刘芳", "晨光社区", world, windows=((0, time(8), time(9)),))
    li_jing_row = await session.get(User, world.people["li_jing"].id)
    task, count = await tasks.create(session, li_jing_row, tasks.TaskForm(
        kind=tasks.TaskKind.COMMUNITY, title="敬老", place="活动中心", starts_at=next_saturday(9),
        ends_at=next_saturday(11), needed=2), now=CLOCK.now(), policy=POLICY)
    assert count == 1  # 刘芳 is not usually free on Saturdays
    await session.commit()
    await offered.wait_for_message(has_button(T("✅ I can help")), timeout=10)

    await li_jing.send_text("/tasks")
    listing = await li_jing.wait_for_message(T("📋 Your volunteer tasks. Tap one to see who is coming."))
    await li_jing.press(next(b for b in listing.buttons if "敬老" in b))
    card = await li_jing.wait_for_message(T("Places filled: {filled} of {needed}", filled=0, needed=2))
    await li_jing.press(T("➕ Add a volunteer"), message_id=card.message_id)
    await li_jing.wait_for_message(has_button("刘芳 " + T("(not usually free then)")))
    mark = by_phone.mark()
    await li_jing.press("刘芳 " + T("(not usually free then)"))
    await li_jing.wait_for_message(T("Places filled: {filled} of {needed}", filled=1, needed=2))
    await by_phone.wait_for_message(has_button(T("↩️ I can't come")), after=mark, timeout=10)

    # Cancel with a reason: both the one offered and the one with a place are told.
    card = li_jing.messages[-1]
    await li_jing.press(T("✖️ Cancel the task"), message_id=card.message_id)
    await li_jing.wait_for_message(T("Why is “{title}” cancelled? Type the reason: everyone who was offered it reads it.",
                                     title="敬老"))
    await li_jing.send_text("  ")
    marks = offered.mark(), by_phone.mark()
    await li_jing.send_text("场地临时维修")
    await li_jing.wait_for_message(T("“{title}” is cancelled; everyone who was offered it or had a place has been told.",
                                     title="敬老"))
    for person, mark in zip((offered, by_phone), marks, strict=True):
        told = await person.wait_for_message("场地临时维修", after=mark, timeout=10)
        assert told.text.startswith("✖️")
