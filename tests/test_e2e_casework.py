"""Running a case end to end: /cases, start work, internal notes, messages relayed both ways,
hand-over, resolution, confirmation and rating, reopening and closing by itself."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.services import cases, users
from bot.services import requests as request_service
from handlers.callbacks import CaseCB, RequestCB
from models import (
    Community,
    EventKind,
    RequestEvent,
    RequestStatus,
    Role,
    ServiceCategory,
    ServiceRequest,
    SocialWorker,
    User,
)
from tests.conftest import CLOCK
from tests.support import T, accept_offer, fill_request, has_button, onboard, settled
from tests.test_e2e_offers import colleague, request_row

pytestmark = pytest.mark.usefixtures("app")

NUMBER = re.compile(r"\d{4}-\d{6}")


async def filed_and_accepted(emulator, world, *, lang: str = "zh_CN", description: str = "上周摔了一跤，需要有人帮忙买菜。"):  # noqa: ANN001, ANN201
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    resident = await onboard(emulator, lang=lang, name="王秀兰")
    await fill_request(resident, lang=lang, description=description)
    mark = li_jing.mark()
    await resident.press(T("✅ Send request", lang))
    receipt = await resident.wait_for_message(T("Send /my to see how it is going.", lang))
    number = NUMBER.search(receipt.text).group(0)
    resident_mark = resident.mark()
    card = await accept_offer(li_jing, number, mark)
    await resident.wait_for_message(number, after=resident_mark, timeout=10)
    return li_jing, resident, number, card


async def timeline(session, number: str) -> list[RequestEvent]:  # noqa: ANN001
    session.expire_all()
    request = await session.scalar(select(ServiceRequest).where(ServiceRequest.number == number))
    rows = list((await session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id)
                                       .order_by(RequestEvent.id))).all())
    await session.commit()
    return rows


async def open_own(resident, number: str, lang: str = "zh_CN"):  # noqa: ANN001, ANN201
    await resident.send_text("/my")
    listing = await resident.wait_for_message(lambda m: any(number in b for b in m.buttons))
    await resident.press(next(b for b in listing.buttons if number in b))
    return await resident.wait_for_message(T("Timeline:", lang))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_case_from_acceptance_to_rating(emulator, session, world, lang):
    await session.execute(update(Community).where(Community.id == world.communities["晨光社区"].id)
                          .values(station_phone="+863517654321"))
    await session.commit()
    li_jing, resident, number, card = await filed_and_accepted(emulator, world, lang=lang)
    accepted = [m for m in resident.messages if number in m.text][-1]
    assert T("Social work station: {phone}", lang, phone="0351 765 4321") in accepted.text
    assert T("▶️ Start work") in card.buttons and T("✅ Resolve") in card.buttons

    # /cases: the case is among her open ones.
    await li_jing.send_text("/cases")
    listing = await li_jing.wait_for_message(has_button("🔘 " + T("Offered to me ({count})", count=0)))
    await li_jing.press("⚪️ " + T("My open cases ({count})", count=1))
    listing = await li_jing.wait_for_message(lambda m: any(number in b for b in m.buttons))
    await li_jing.press(next(b for b in listing.buttons if number in b))
    card = await li_jing.wait_for_message(lambda m: T("Timeline:") in m.text and T("▶️ Start work") in m.buttons)

    # Start work: the resident hears it.
    mark = resident.mark()
    query = await li_jing.press(T("▶️ Start work"), message_id=card.message_id)
    answer = await li_jing.wait_for_callback_answer(query)
    assert answer.text == T("Request {number} is in progress; the resident has been told.", number=number)
    told = await resident.wait_for_message(number, after=mark, timeout=10)
    assert T("🛠 Social worker {name} has started working on your request {number}.\n{station}", lang, name="李静",
             number=number, station=T("Social work station: {phone}", lang, phone="0351 765 4321")) == told.text

    # An internal note: on the staff timeline, never sent or shown to the resident.
    await li_jing.press(T("📝 Internal note"), message_id=card.message_id)
    await li_jing.wait_for_message(T("📝 Type an internal note for request {number}. Only staff see it; the resident "
                                     "never does.", number=number))
    await li_jing.send_text("   ")
    await li_jing.wait_for_message(T("Please type the note."))
    await li_jing.send_text("家属情绪激动，沟通时注意方式。")
    await li_jing.wait_for_message(T("📝 Note added to request {number}.", number=number))

    # A message to the resident, and her answer back: relayed by the bot, no Telegram accounts shown.
    resident_mark = resident.mark()
    await li_jing.press(T("💬 Message the resident"), message_id=card.message_id)
    await li_jing.wait_for_message(has_button(T("✖️ Cancel")))
    await li_jing.send_text("明天上午10点上门，可以吗？")
    await li_jing.wait_for_message(T("💬 Sent to the resident of request {number}.", number=number))
    relayed = await resident.wait_for_message("明天上午10点上门", after=resident_mark, timeout=10)
    assert T("💬 Social worker {name} about your request {number}:\n“{text}”", lang, name="李静", number=number,
             text="明天上午10点上门，可以吗？") == relayed.text
    assert str(li_jing.id) not in relayed.text
    worker_mark = li_jing.mark()
    await resident.press(T("↩️ Reply", lang), message_id=relayed.message_id)
    await resident.wait_for_message(T("↩️ Type your answer to the social worker about request {number}.", lang,
                                      number=number))
    await resident.send_text("可以，谢谢！")
    await resident.wait_for_message(T("↩️ Your answer about request {number} was passed on to the social worker.",
                                      lang, number=number))
    answer_back = await li_jing.wait_for_message("可以，谢谢！", after=worker_mark, timeout=10)
    assert str(resident.id) not in answer_back.text and "王秀兰" not in answer_back.text
    assert T("💬 Message the resident") in answer_back.buttons

    # Resolve with a summary: the resident is asked to confirm and rate.
    resident_mark = resident.mark()
    await li_jing.press(T("✅ Resolve"), message_id=card.message_id)
    await li_jing.wait_for_message(has_button(T("✖️ Cancel")))
    await li_jing.send_text("已联系志愿者每周二、五帮忙买菜，并陪同复查。")
    await li_jing.wait_for_message(T("✅ Request {number} is resolved. The resident has been asked to confirm and "
                                     "rate it.", number=number))
    resolved = await resident.wait_for_message(has_button(T("⭐ Confirm and rate", lang)), after=resident_mark,
                                               timeout=10)
    assert "已联系志愿者每周二、五帮忙买菜" in resolved.text and number in resolved.text

    # Her own timeline: the status changes and messages, never the note.
    own = await open_own(resident, number, lang)
    assert "明天上午10点上门" in own.text and "可以，谢谢" in own.text
    assert "家属情绪激动" not in own.text
    assert T("⭐ Confirm and rate", lang) in own.buttons

    # She rates it 5 with a comment; 李静 hears it.
    worker_mark = li_jing.mark()
    await resident.press(T("⭐ Confirm and rate", lang))
    await resident.wait_for_message(has_button("⭐⭐⭐⭐⭐"))
    await resident.press("⭐⭐⭐⭐⭐")
    await resident.wait_for_message(has_button(T("No comment", lang)))
    await resident.send_text("李社工很耐心，谢谢！")
    await resident.wait_for_message(T("⭐ Thank you! Your rating helps the station do better.", lang))
    rated = await li_jing.wait_for_message(number, after=worker_mark, timeout=10)
    assert "李社工很耐心" in rated.text

    request = await request_row(session, number)
    assert (request.status, request.rating, request.rating_comment) == (RequestStatus.CLOSED, 5, "李社工很耐心，谢谢！")
    kinds = [e.kind for e in await timeline(session, number)]
    for kind in (EventKind.INTERNAL_NOTE, EventKind.MESSAGE, EventKind.REPLY, EventKind.RATED):
        assert kinds.count(kind) == 1, kind
    # Rated once: the button now says so.
    query = await resident.press_data(RequestCB(action="rate", id=request.id).pack(), message_id=resolved.message_id)
    answer = await resident.wait_for_callback_answer(query)
    assert answer.text == T("You have already rated request {number}. Thank you!", lang, number=number)


async def test_reopening_then_closing_by_itself_and_rating_afterwards(app, emulator, session, world):
    li_jing, resident, number, card = await filed_and_accepted(emulator, world)

    async def resolve(summary: str):  # noqa: ANN202
        mark = resident.mark()
        await li_jing.press(T("✅ Resolve"), message_id=card.message_id)
        await li_jing.wait_for_message(has_button(T("✖️ Cancel")))
        await li_jing.send_text(summary)
        await li_jing.wait_for_message(T("✅ Request {number} is resolved. The resident has been asked to confirm and "
                                         "rate it.", number=number))
        return await resident.wait_for_message(has_button(T("↩️ Not solved: reopen")), after=mark, timeout=10)

    resolved = await resolve("已帮忙买菜。")
    worker_mark = li_jing.mark()
    await resident.press(T("↩️ Not solved: reopen"), message_id=resolved.message_id)
    await resident.wait_for_message(has_button(T("✖️ Cancel")))
    await resident.send_text("复查还没人陪我去。")
    await resident.wait_for_message(T("↩️ Request {number} is open again; the social worker has been told.",
                                      number=number))
    await li_jing.wait_for_message("复查还没人陪我去", after=worker_mark, timeout=10)
    request = await request_row(session, number)
    assert request.status is RequestStatus.IN_PROGRESS and request.resolved_at is None

    resolved = await resolve("已安排志愿者周五陪同复查。")
    request = await request_row(session, number)
    # Three days on she is reminded once to rate; seven days on it closes by itself.
    mark = resident.mark()
    CLOCK.set(request.resolved_at + timedelta(days=3))
    await app.sweeper.sweep()
    reminder = await resident.wait_for_message(has_button(T("⭐ Confirm and rate")), after=mark, timeout=10)
    assert number in reminder.text
    CLOCK.set(request.resolved_at + timedelta(days=7))
    await app.sweeper.sweep()
    request = await request_row(session, number)
    assert request.status is RequestStatus.CLOSED and request.rating is None
    query = await resident.press(T("↩️ Not solved: reopen"), message_id=resolved.message_id)
    answer = await resident.wait_for_callback_answer(query)
    assert answer.text.startswith(T("Request {number} can be reopened only while it is resolved and not yet closed. "
                                    "Please send /new if you need help again.", number=number)[:10])
    # Rating is still welcome after it closed.
    await resident.press(T("⭐ Confirm and rate"), message_id=reminder.message_id)
    await resident.wait_for_message(has_button("⭐⭐⭐"))
    await resident.press("⭐⭐⭐")
    await resident.wait_for_message(has_button(T("No comment")))
    await resident.press(T("No comment"))
    await resident.wait_for_message(T("⭐ Thank you! Your rating helps the station do better."))
    request = await request_row(session, number)
    assert (request.status, request.rating, request.rating_comment) == (RequestStatus.CLOSED, 3, None)
    events = await timeline(session, number)
    assert [e.reason for e in events if e.kind is EventKind.STATUS_CHANGED and e.to_status is RequestStatus.CLOSED] \
        == ["auto"]
    assert [e.note for e in events if e.kind is EventKind.REOPENED] == ["复查还没人陪我去。"]


async def test_the_supervisor_hands_a_case_over(emulator, session, world):
    supervisor, _ = await colleague(session, world, emulator, "马督导", on_duty=False, supervisor=True)
    sun, sun_id = await colleague(session, world, emulator, "孙")
    li_jing, resident, number, card = await filed_and_accepted(emulator, world)
    request = await request_row(session, number)

    # 李静 cannot hand it over herself; the supervisor opens it (he may) and can.
    assert T("🔁 Hand over") not in card.buttons
    await supervisor.send_text("/help")
    anchor = await supervisor.wait_for_message()
    await supervisor.press_data(RequestCB(action="view", id=request.id).pack(), message_id=anchor.message_id)
    boss_card = await supervisor.wait_for_message(T("Timeline:"))
    assert T("🔁 Hand over") in boss_card.buttons
    assert "王秀兰" not in boss_card.text, "the resident's details stay with the worker on the case"
    marks = {who: who.mark() for who in (li_jing, sun, resident)}
    await supervisor.press(T("🔁 Hand over"), message_id=boss_card.message_id)
    whom = await supervisor.wait_for_message(lambda m: any(b.startswith("孙") for b in m.buttons))
    assert not any(b.startswith("李静") for b in whom.buttons), "not to whoever holds it"
    await supervisor.press(next(b for b in whom.buttons if b.startswith("孙")))
    await supervisor.wait_for_message(T("🔁 Request {number} is now with {name}; they and the resident have been told.",
                                        number=number, name="孙"))
    await sun.wait_for_message(T("🔁 Request {number} has been handed over to you by {name}. It is yours now.",
                                 number=number, name="马督导"), after=marks[sun], timeout=10)
    await li_jing.wait_for_message(T("🔁 Request {number} has been handed over to {name} by {by}.", number=number,
                                     name="孙", by="马督导"), after=marks[li_jing], timeout=10)
    await resident.wait_for_message(T("Your request {number} is now with social worker {name}.\n{station}",
                                      number=number, name="孙", station="").strip(), after=marks[resident], timeout=10)
    request = await request_row(session, number)
    assert (request.status, request.assigned_worker_id) == (RequestStatus.ACCEPTED, sun_id)

    # 李静's old card no longer works for her.
    query = await li_jing.press(T("💬 Message the resident"), message_id=card.message_id)
    answer = await li_jing.wait_for_callback_answer(query)
    assert answer.text == T("Request {number} is not one of your cases.", number=number)


async def test_forged_case_actions_are_refused_and_change_nothing(emulator, session, world):
    sun, _sun_id = await colleague(session, world, emulator, "孙")
    zhao_min = emulator.user(world.people["zhao_min"].telegram_id, "赵敏")
    li_jing, resident, number, card = await filed_and_accepted(emulator, world)
    other_resident = await onboard(emulator, name="刘大爷")
    volunteer = await onboard(emulator, name="志愿者小张")
    await settled(volunteer)
    volunteer_row = await session.scalar(select(User).where(User.telegram_id == volunteer.id))
    await users.grant_role(session, volunteer_row, Role.VOLUNTEER, now=CLOCK.now())
    await session.commit()
    request = await request_row(session, number)
    request_id, version = request.id, request.version
    events_before = len(await timeline(session, number))

    async def refused(person, data: str, expected: str) -> None:  # noqa: ANN001
        await person.send_text("/help")
        anchor = await person.wait_for_message()
        query = await person.press_data(data, message_id=anchor.message_id)
        answer = await person.wait_for_callback_answer(query)
        assert answer.text == expected and answer.show_alert, (person, data, answer.text)

    not_yours = T("This request is not yours to open.")
    for action in ("start", "note", "message", "resolve", "handover"):
        data = CaseCB(action=action, id=request_id).pack()
        await refused(zhao_min, data, not_yours)  # another community's worker
        await refused(other_resident, data, not_yours)  # another resident
        await refused(volunteer, data, not_yours)  # a volunteer of the same community
    await refused(volunteer, CaseCB(action="accept", id=request_id).pack(), T("Only social workers can take on cases."))
    await refused(resident, CaseCB(action="resolve", id=request_id).pack(), T("Only social workers can take on cases."))
    await refused(resident, CaseCB(action="note", id=request_id).pack(),
                  T("Only the social worker on the case, the supervisor or a coordinator can add notes."))
    await refused(resident, CaseCB(action="handover", id=request_id).pack(),
                  T("Only the station's supervisor or a coordinator can hand a case over."))
    await refused(other_resident, RequestCB(action="rate", id=request_id).pack(), not_yours)
    await refused(other_resident, RequestCB(action="reopen", id=request_id).pack(), not_yours)
    await refused(other_resident, RequestCB(action="reply", id=request_id).pack(), not_yours)
    await refused(resident, RequestCB(action="rate", id=request_id).pack(),
                  T("Request {number} can be rated once it is resolved.", number=number))
    # 孙 (same community, never offered it) cannot open it at all.
    await refused(sun, CaseCB(action="start", id=request_id).pack(), not_yours)

    for person in (zhao_min, other_resident, resident, sun, volunteer):
        await settled(person)
    after = await request_row(session, number)
    assert (after.status, after.version, after.assigned_worker_id) == (
        RequestStatus.ACCEPTED, version, world.people["li_jing"].id)
    assert len(await timeline(session, number)) == events_before


async def test_cases_lists_offered_open_and_overdue_with_paging(app, emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    resident = await onboard(emulator, name="王秀兰")
    await settled(resident)
    resident_id = await session.scalar(select(User.id).where(User.telegram_id == resident.id))
    category_id = await session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == "elderly.community_care"))
    await session.commit()
    numbers = []
    for n in range(8):  # offered to 李静, the only worker on duty in 晨光
        row = await session.get(User, resident_id)
        filed = await request_service.file_request(
            session, row, request_service.RequestDraft(token=f"many-{n}", category_id=category_id,
                                                       description=f"第{n + 1}件事需要帮忙"), now=CLOCK.now())
        numbers.append(filed.request.number)
        await session.commit()

    await li_jing.send_text("/cases")
    first = await li_jing.wait_for_message(lambda m: sum(1 for b in m.buttons if NUMBER.search(b)) == 6)
    assert "🔘 " + T("Offered to me ({count})", count=8) in first.buttons
    shown = [NUMBER.search(b).group(0) for b in first.buttons if NUMBER.search(b)]
    assert shown == numbers[:6], "oldest first"
    await li_jing.press(">", message_id=first.message_id)
    second = await li_jing.wait_for_message(lambda m: numbers[6] in " ".join(m.buttons))
    assert [NUMBER.search(b).group(0) for b in second.buttons if NUMBER.search(b)] == numbers[6:]

    # She accepts two; a week on, neither is resolved: both are overdue, and listed so.
    for number in numbers[:2]:
        row = await request_row(session, number)
        li_jing_row = await session.get(User, world.people["li_jing"].id)
        await cases.accept(session, li_jing_row, row.id, now=CLOCK.now())
        await session.commit()
    request = await request_row(session, numbers[0])
    CLOCK.set(request.resolve_by + timedelta(minutes=1))
    await app.sweeper.sweep()
    await li_jing.send_text("/cases")
    listing = await li_jing.wait_for_message(has_button("⚪️ " + T("Overdue ({count})", count=2)))
    assert "⚪️ " + T("My open cases ({count})", count=2) in listing.buttons
    await li_jing.press("⚪️ " + T("Overdue ({count})", count=2), message_id=listing.message_id)
    overdue = await li_jing.wait_for_message(has_button("🔘 " + T("Overdue ({count})", count=2)))
    assert sorted(NUMBER.search(b).group(0) for b in overdue.buttons if NUMBER.search(b)) == numbers[:2]
    assert all(b.startswith("⏰") for b in overdue.buttons if NUMBER.search(b))


async def test_cases_is_for_social_workers(emulator, world):
    resident = await onboard(emulator)
    await resident.send_text("/cases")
    await resident.wait_for_message(T("/cases is for social workers. To see your own requests, send /my."))
    # /help tells each what they have.
    await resident.send_text("/help")
    helped = await resident.wait_for_message(T("Here is what I can do:"))
    assert T("/volunteer — volunteer with us, or change your volunteer details") in helped.text
    assert "/cases" not in helped.text and "/volunteers" not in helped.text
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    await li_jing.send_text("/help")
    helped = await li_jing.wait_for_message(T("Here is what I can do:"))
    assert T("/cases — cases offered to you, your open cases, overdue ones") in helped.text
    assert T("/volunteers — the volunteers you look after: approve, suspend, reinstate") in helped.text
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    await zhou.send_text("/help")
    helped = await zhou.wait_for_message(T("Here is what I can do:"))
    assert T("/cases — requests waiting for a social worker, and overdue ones") in helped.text


async def test_a_request_nobody_could_take_waits_in_the_coordinators_queue_until_handed_over(emulator, session, world):
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    await session.execute(update(SocialWorker).where(SocialWorker.user_id == world.people["li_jing"].id)
                          .values(on_duty=False))
    await session.commit()
    resident = await onboard(emulator, name="王秀兰")
    await fill_request(resident)
    zhou_mark = zhou.mark()
    await resident.press(T("✅ Send request"))
    receipt = await resident.wait_for_message(T("Send /my to see how it is going."))
    number = NUMBER.search(receipt.text).group(0)
    await zhou.wait_for_message(number, after=zhou_mark, timeout=10)

    # 李静 (not a supervisor) has no such list; the coordinator's queue holds it.
    await li_jing.send_text("/cases")
    mine = await li_jing.wait_for_message(has_button("🔘 " + T("Offered to me ({count})", count=0)))
    assert not any(T("Waiting for a social worker ({count})", count=1) in b for b in mine.buttons)
    await zhou.send_text("/cases")
    queue = await zhou.wait_for_message(has_button("🔘 " + T("Waiting for a social worker ({count})", count=1)))
    await zhou.press(next(b for b in queue.buttons if number in b), message_id=queue.message_id)
    card = await zhou.wait_for_message(lambda m: T("Timeline:") in m.text and T("🔁 Hand over") in m.buttons)
    assert T("routed to nobody: coordinators told") in card.text

    li_mark = li_jing.mark()
    await zhou.press(T("🔁 Hand over"), message_id=card.message_id)
    whom = await zhou.wait_for_message(lambda m: any(b.startswith("李静") for b in m.buttons))
    await zhou.press(next(b for b in whom.buttons if b.startswith("李静")))
    await zhou.wait_for_message(T("🔁 Request {number} is now with {name}; they and the resident have been told.",
                                  number=number, name="李静"))
    await li_jing.wait_for_message(T("🔁 Request {number} has been handed over to you by {name}. It is yours now.",
                                     number=number, name="周主任"), after=li_mark, timeout=10)
    request = await request_row(session, number)
    assert (request.status, request.assigned_worker_id) == (RequestStatus.ACCEPTED, world.people["li_jing"].id)
    assert request.resolve_by is not None
