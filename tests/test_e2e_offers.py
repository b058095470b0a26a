"""Offers end to end: a routed case is accepted or declined in chat, re-routed on a decline or a
timeout, escalated when its deadline passes, and refused to anyone it was not offered to.

Time moves with the test clock and reminders are swept by the test (`app.sweeper.sweep()`):
nothing here sleeps to wait for a deadline.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.services import users
from handlers.callbacks import CaseCB, RequestCB
from models import (
    CaseOffer,
    DeclineReason,
    EventKind,
    OfferStatus,
    RequestEvent,
    RequestStatus,
    Role,
    ServiceCategory,
    ServiceRequest,
    SocialWorker,
    User,
)
from tests.conftest import CLOCK, next_telegram_id
from tests.support import T, callback_data_of, fill_request, has_button, onboard, settled

pytestmark = pytest.mark.usefixtures("app")

NUMBER = re.compile(r"\d{4}-\d{6}")


async def colleague(session, world, emulator, name: str, *, community: str = "晨光社区", locale: str = "zh_CN",
                    on_duty: bool = True, supervisor: bool = False):  # noqa: ANN001, ANN201
    """Another social worker of the community, as an emulated person."""
    telegram_id = next_telegram_id()
    user = await users.touch_user(session, users.TelegramProfile(telegram_id, name), now=CLOCK.now())
    user.locale = locale
    await users.grant_role(session, user, Role.SOCIAL_WORKER, now=CLOCK.now())
    profile = user.social_worker
    profile.home_community_id = world.communities[community].id
    profile.on_duty = on_duty
    profile.is_supervisor = supervisor
    await session.commit()
    return emulator.user(telegram_id, name, language_code="en" if locale == "en" else "zh-hans"), user.id


async def file(emulator, *, description: str = "上周摔了一跤，需要有人帮忙买菜。", community: str = "晨光社区"):  # noqa: ANN001, ANN201
    resident = await onboard(emulator, name="王秀兰", community=community)
    await fill_request(resident, description=description)
    await resident.press(T("✅ Send request"))
    receipt = await resident.wait_for_message(T("Send /my to see how it is going."))
    return resident, NUMBER.search(receipt.text).group(0)


async def request_row(session, number: str) -> ServiceRequest:  # noqa: ANN001
    session.expire_all()
    row = await session.scalar(select(ServiceRequest).where(ServiceRequest.number == number))
    await session.commit()
    return row


async def timeline(session, number: str) -> list[RequestEvent]:  # noqa: ANN001
    session.expire_all()
    request = await session.scalar(select(ServiceRequest).where(ServiceRequest.number == number))
    rows = await session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id)
                                 .order_by(RequestEvent.id))
    found = list(rows.all())
    await session.commit()
    return found


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_decline_with_a_reason_goes_to_the_next_worker_and_then_to_the_coordinators(
    emulator, session, world, lang
):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    sun, sun_id = await colleague(session, world, emulator, "孙Sun", locale=lang)
    mark = li_jing.mark()
    resident, number = await file(emulator)

    # 李静 (the lower id, no cases) is offered it first; she declines: too many cases.
    offer = await li_jing.wait_for_message(number, after=mark, timeout=10)
    accept_data = callback_data_of(offer, T("✅ Accept"))
    sun_mark, zhou_mark = sun.mark(), zhou.mark()
    await li_jing.press(T("↩️ Decline"), message_id=offer.message_id)
    question = await li_jing.wait_for_message(has_button(T("too many cases")))
    assert T("Why do you decline request {number}? It will be offered to the next social worker.", number=number) \
        in question.text
    await li_jing.press(T("too many cases"))
    await li_jing.wait_for_message(T("You declined request {number}. It is being offered to the next social worker.",
                                     number=number))
    assert not li_jing.message(offer.message_id).buttons

    # 孙 is offered it next, in their language, and declines in their own words.
    offer_to_sun = await sun.wait_for_message(number, after=sun_mark, timeout=10)
    assert ("请在 30 分钟内受理或拒绝" if lang == "zh_CN" else "Please accept or decline within 30 minutes") \
        in offer_to_sun.text
    await sun.press(T("↩️ Decline", lang), message_id=offer_to_sun.message_id)
    await sun.wait_for_message(has_button(T("✏️ Another reason (type it)", lang)))
    await sun.press(T("✏️ Another reason (type it)", lang))
    await sun.wait_for_message(T("Please type in a few words why you decline request {number}.", lang, number=number))
    await sun.send_sticker()
    await sun.wait_for_message(T("Please type the reason in words.", lang))
    await sun.send_text("家里老人住院，这周请假")
    await sun.wait_for_message(T("You declined request {number}. It is being offered to the next social worker.",
                                 lang, number=number))

    # Nobody is left in 晨光 (no support, no supervisor): the coordinators are alerted and it waits.
    await zhou.wait_for_message(number, after=zhou_mark, timeout=10)
    request = await request_row(session, number)
    assert (request.status, request.assigned_worker_id) == (RequestStatus.NEW, None)
    events = await timeline(session, number)
    declined = [(e.actor_id, e.reason, e.note) for e in events if e.kind is EventKind.DECLINED]
    assert declined == [(world.people["li_jing"].id, DeclineReason.CAPACITY.value, None),
                        (sun_id, DeclineReason.OTHER.value, "家里老人住院，这周请假")]
    assert [(e.subject_id, e.reason) for e in events if e.kind is EventKind.ROUTED] == [
        (world.people["li_jing"].id, "community"), (sun_id, "community"), (None, "nobody")]

    # 李静's old Accept no longer works: she declined (a conflict of interest must stay a no).
    query = await li_jing.press_data(accept_data, message_id=offer.message_id)
    answer = await li_jing.wait_for_callback_answer(query)
    assert answer.text == T("You declined request {number}; it has gone to someone else.", number=number)

    # The coordinator finds it waiting, sees why, and hands it to 李静 after all.
    await zhou.send_text("/cases")
    queue = await zhou.wait_for_message(lambda m: any(number in b for b in m.buttons))
    await zhou.press(next(b for b in queue.buttons if number in b), message_id=queue.message_id)
    card = await zhou.wait_for_message(lambda m: T("Timeline:") in m.text and T("🔁 Hand over") in m.buttons)
    assert T("declined by {name}: {reason}", name="李静", reason=T("too many cases")) in card.text
    assert "家里老人住院，这周请假" in card.text
    await zhou.press(T("🔁 Hand over"), message_id=card.message_id)
    whom = await zhou.wait_for_message(lambda m: any(b.startswith("李静") for b in m.buttons))
    await zhou.press(next(b for b in whom.buttons if b.startswith("李静")))
    await zhou.wait_for_message(T("🔁 Request {number} is now with {name}; they and the resident have been told.",
                                  number=number, name="李静"))
    request = await request_row(session, number)
    assert (request.status, request.assigned_worker_id) == (RequestStatus.ACCEPTED, world.people["li_jing"].id)

    # The resident's timeline shows the acceptance, never who declined or why.
    await resident.send_text("/my")
    listing = await resident.wait_for_message(lambda m: any(number in b for b in m.buttons))
    await resident.press(next(b for b in listing.buttons if number in b))
    seen = await resident.wait_for_message(T("Timeline:"))
    assert T("accepted by a social worker") in seen.text
    assert "家里老人住院" not in seen.text and T("too many cases") not in seen.text


async def test_not_declining_after_all_keeps_the_offer(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    mark = li_jing.mark()
    _resident, number = await file(emulator)
    offer = await li_jing.wait_for_message(number, after=mark, timeout=10)
    await li_jing.press(T("↩️ Decline"), message_id=offer.message_id)
    await li_jing.wait_for_message(has_button(T("✖️ Do not decline")))
    await li_jing.press(T("✖️ Do not decline"))
    await li_jing.wait_for_message(T("Not declined: the offer of request {number} is still yours to answer.",
                                     number=number))
    await li_jing.press(T("✅ Accept"), message_id=offer.message_id)
    await li_jing.wait_for_message(T("Timeline:"))
    request = await request_row(session, number)
    assert (request.status, request.assigned_worker_id) == (RequestStatus.ACCEPTED, world.people["li_jing"].id)


async def test_an_unanswered_offer_times_out_and_goes_to_the_next_worker(app, emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    sun, sun_id = await colleague(session, world, emulator, "孙")
    mark = li_jing.mark()
    _resident, number = await file(emulator)
    await li_jing.wait_for_message(number, after=mark, timeout=10)

    # 29 minutes: nothing happens yet.
    CLOCK.advance(minutes=29)
    await app.sweeper.sweep()
    assert (await request_row(session, number)).assigned_worker_id == world.people["li_jing"].id

    li_mark, sun_mark = li_jing.mark(), sun.mark()
    CLOCK.advance(minutes=2)
    await app.sweeper.sweep()
    lapsed = await li_jing.wait_for_message(T("⌛ Request {number} was not answered in time and is being offered to "
                                              "someone else. You can still accept it while nobody has.",
                                              number=number), after=li_mark, timeout=10)
    offer = await sun.wait_for_message(has_button(T("✅ Accept")), after=sun_mark, timeout=10)
    assert number in offer.text
    request = await request_row(session, number)
    assert (request.status, request.assigned_worker_id) == (RequestStatus.OFFERED, sun_id)
    events = await timeline(session, number)
    assert [e.subject_id for e in events if e.kind is EventKind.OFFER_EXPIRED] == [world.people["li_jing"].id]

    # 孙 accepts; 李静's late press is told who has it.
    await sun.press(T("✅ Accept"), message_id=offer.message_id)
    await sun.wait_for_message(T("Timeline:"))
    query = await li_jing.press(T("✅ Accept"), message_id=lapsed.message_id)
    answer = await li_jing.wait_for_callback_answer(query)
    assert answer.show_alert
    assert answer.text == T("Request {number} has already been accepted by {name}.", number=number, name="孙")
    request = await request_row(session, number)
    assert (request.status, request.assigned_worker_id) == (RequestStatus.ACCEPTED, sun_id)


async def test_a_missed_response_deadline_escalates_to_the_supervisor_then_the_coordinators(
    app, emulator, session, world
):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    ma, ma_id = await colleague(session, world, emulator, "马督导", on_duty=False, supervisor=True)
    mark = li_jing.mark()
    _resident, number = await file(emulator)
    await li_jing.wait_for_message(number, after=mark, timeout=10)
    request = await request_row(session, number)
    promised = request.respond_by
    assert promised - request.created_at == timedelta(days=1)  # the receipt's "within 1 day"

    # 李静 lets it lapse; the off-duty supervisor is the last one at the station (routing level 4).
    ma_mark = ma.mark()
    CLOCK.advance(minutes=31)
    await app.sweeper.sweep()
    await ma.wait_for_message(number, after=ma_mark, timeout=10)
    # He lets it lapse too: nobody is left, the coordinators hear of it and it waits.
    zhou_mark = zhou.mark()
    CLOCK.advance(minutes=31)
    await app.sweeper.sweep()
    await zhou.wait_for_message(number, after=zhou_mark, timeout=10)
    assert (await request_row(session, number)).status is RequestStatus.NEW

    # The receipt's promise passes: overdue, and the supervisor is told and may accept it himself.
    ma_mark, zhou_mark = ma.mark(), zhou.mark()
    CLOCK.set(promised)
    await app.sweeper.sweep()
    escalated = await ma.wait_for_message(number, after=ma_mark, timeout=10)
    assert T("✅ Accept") in escalated.buttons
    request = await request_row(session, number)
    assert request.overdue_at == promised

    # Two hours on, nobody has: the coordinators are told it is overdue.
    CLOCK.advance(minutes=121)
    await app.sweeper.sweep()
    overdue = await zhou.wait_for_message(
        lambda m: number in m.text and m.seq > zhou_mark and "🔺" in m.text, after=zhou_mark, timeout=10)
    assert T("🔺 Request {number} in {community} is overdue: nobody has accepted it.\nService: {service}",
             number=number, community="晨光社区", service="生活照料（买菜、陪同就医等）") == overdue.text
    events = await timeline(session, number)
    assert [(e.subject_id, e.reason) for e in events if e.kind is EventKind.ESCALATED] == [
        (ma_id, "response"), (None, "response")]
    assert [e.reason for e in events if e.kind is EventKind.OVERDUE] == ["response"]

    # The supervisor takes it after all.
    await ma.press(T("✅ Accept"), message_id=escalated.message_id)
    await ma.wait_for_message(T("Timeline:"))
    request = await request_row(session, number)
    assert (request.status, request.assigned_worker_id, request.overdue_at) == (RequestStatus.ACCEPTED, ma_id, None)


async def test_an_accepted_case_has_a_resolution_deadline_that_reminds_and_escalates(app, emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    ma, ma_id = await colleague(session, world, emulator, "马督导", on_duty=False, supervisor=True)
    mark = li_jing.mark()
    _resident, number = await file(emulator)
    offer = await li_jing.wait_for_message(number, after=mark, timeout=10)
    await li_jing.press(T("✅ Accept"), message_id=offer.message_id)
    await li_jing.wait_for_message(T("Timeline:"))
    request = await request_row(session, number)
    assert request.resolve_by - request.accepted_at == timedelta(days=7)

    # Accepting cancelled the response deadline: passing it changes nothing.
    CLOCK.set(request.respond_by)
    await app.sweeper.sweep()
    assert (await request_row(session, number)).overdue_at is None

    li_mark, ma_mark, zhou_mark = li_jing.mark(), ma.mark(), zhou.mark()
    CLOCK.set(request.resolve_by)
    await app.sweeper.sweep()
    await li_jing.wait_for_message(T("⏰ Request {number} is overdue: it should have been resolved by now. Please "
                                     "resolve it or ask your supervisor to hand it over.", number=number),
                                   after=li_mark, timeout=10)
    told = await ma.wait_for_message(number, after=ma_mark, timeout=10)
    assert "李静" in told.text
    CLOCK.advance(minutes=121)
    await app.sweeper.sweep()
    await zhou.wait_for_message(T("🔺 Request {number} in {community} is overdue: it has not been resolved.\n"
                                  "Service: {service}", number=number, community="晨光社区",
                                  service="生活照料（买菜、陪同就医等）"), after=zhou_mark, timeout=10)
    events = await timeline(session, number)
    assert [e.reason for e in events if e.kind is EventKind.OVERDUE] == ["resolution"]
    assert [(e.subject_id, e.reason) for e in events if e.kind is EventKind.ESCALATED] == [
        (ma_id, "resolution"), (None, "resolution")]


async def test_forged_accept_and_decline_are_refused_and_change_nothing(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    zhao_min = emulator.user(world.people["zhao_min"].telegram_id, "赵敏")  # 桃园's social worker
    mark = li_jing.mark()
    resident, number = await file(emulator)
    await li_jing.wait_for_message(number, after=mark, timeout=10)
    request = await request_row(session, number)
    request_id, version = request.id, request.version
    accept = CaseCB(action="accept", id=request_id).pack()
    decline = CaseCB(action="decline", id=request_id).pack()

    # The resident forges an Accept and a Decline on the receipt.
    receipt = resident.last_message
    for data in (accept, decline):
        query = await resident.press_data(data, message_id=receipt.message_id)
        answer = await resident.wait_for_callback_answer(query)
        assert answer.text == T("Only social workers can take on cases.") and answer.show_alert

    # A social worker of another community, never offered the case, can neither take nor open it.
    await zhao_min.send_text("/help")
    anywhere = await zhao_min.wait_for_message()
    for data in (accept, decline):
        query = await zhao_min.press_data(data, message_id=anywhere.message_id)
        answer = await zhao_min.wait_for_callback_answer(query)
        assert answer.text == T("Request {number} was not offered to you.", number=number)
    query = await zhao_min.press_data(RequestCB(action="view", id=request_id).pack(), message_id=anywhere.message_id)
    answer = await zhao_min.wait_for_callback_answer(query)
    assert answer.text == T("This request is not yours to open.")

    await settled(resident)
    await settled(zhao_min)
    after = await request_row(session, number)
    assert (after.status, after.assigned_worker_id, after.version) == (
        RequestStatus.OFFERED, world.people["li_jing"].id, version)
    session.expire_all()
    offers = (await session.scalars(select(CaseOffer).where(CaseOffer.request_id == request_id))).all()
    assert [(o.worker_id, o.status) for o in offers] == [(world.people["li_jing"].id, OfferStatus.PENDING)]
    await session.commit()


async def test_a_worker_of_the_same_community_never_offered_the_case_cannot_open_it(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    # 孙 is off duty: routing passes them by, so the case is offered to 李静 only.
    sun, _sun_id = await colleague(session, world, emulator, "孙", on_duty=False)
    mark = li_jing.mark()
    _resident, number = await file(emulator)
    await li_jing.wait_for_message(number, after=mark, timeout=10)
    request = await request_row(session, number)
    await sun.send_text("/help")
    anywhere = await sun.wait_for_message()
    query = await sun.press_data(RequestCB(action="view", id=request.id).pack(), message_id=anywhere.message_id)
    answer = await sun.wait_for_callback_answer(query)
    assert answer.text == T("This request is not yours to open.")


async def test_a_cancelled_request_withdraws_the_offer(app, emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    mark = li_jing.mark()
    resident, number = await file(emulator)
    offer = await li_jing.wait_for_message(number, after=mark, timeout=10)
    await resident.send_text("/my")
    listing = await resident.wait_for_message(lambda m: any(number in b for b in m.buttons))
    await resident.press(next(b for b in listing.buttons if number in b))
    await resident.wait_for_message(has_button(T("Cancel this request")))
    await resident.press(T("Cancel this request"))
    await resident.wait_for_message(has_button(T("Yes, cancel it")))
    cancel_mark = li_jing.mark()
    await resident.press(T("Yes, cancel it"))
    await li_jing.wait_for_message(T("Request {number} was cancelled by the resident.", number=number),
                                   after=cancel_mark, timeout=10)

    query = await li_jing.press(T("✅ Accept"), message_id=offer.message_id)
    answer = await li_jing.wait_for_callback_answer(query)
    assert answer.text == T("Request {number} is no longer waiting to be accepted.", number=number)
    # Its timeout never fires: no re-routing of a cancelled request.
    CLOCK.advance(minutes=31)
    await app.sweeper.sweep()
    events = await timeline(session, number)
    assert not [e for e in events if e.kind in (EventKind.OFFER_EXPIRED, EventKind.ROUTED) and e.id > events[3].id]
    assert (await request_row(session, number)).status is RequestStatus.CANCELLED


@pytest.mark.parametrize("trials", [200])
async def test_two_workers_pressing_accept_together_exactly_one_wins(app, emulator, session, world, trials):
    """Both hold an offer (as with an urgent request); each trial they press Accept at the same moment."""
    from bot.services import cases
    from bot.services.requests import RequestDraft, file_request

    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    sun, sun_id = await colleague(session, world, emulator, "孙")
    li_id = world.people["li_jing"].id
    # Room for every trial's case (capacity counts accepted cases).
    await session.execute(update(SocialWorker).where(SocialWorker.user_id.in_([li_id, sun_id])).values(capacity=1000))
    await session.commit()
    resident = await onboard(emulator, name="王秀兰")
    await settled(resident)
    resident_id = await session.scalar(select(User.id).where(User.telegram_id == resident.id))
    category_id = await session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == "elderly.community_care"))
    await session.commit()  # end the read: on SQLite a transaction holds the write lock the bot needs
    winners: dict[int, int] = {li_id: 0, sun_id: 0}
    await li_jing.send_text("/help")
    li_anchor = await li_jing.wait_for_message()
    await sun.send_text("/help")
    sun_anchor = await sun.wait_for_message()
    for trial in range(trials):
        session.expire_all()
        resident_row = await session.get(User, resident_id)
        filed = await file_request(session, resident_row, RequestDraft(token=f"race-{trial}", category_id=category_id,
                                                                       description="需要有人帮忙买菜"), now=CLOCK.now())
        request = filed.request
        # Routing offered it to one of them; the other gets an open offer too, as with an urgent request.
        offered = set((await session.scalars(select(CaseOffer.worker_id).where(CaseOffer.request_id == request.id))).all())
        await session.execute(update(ServiceRequest).where(ServiceRequest.id == request.id)
                              .values(assigned_worker_id=None))
        for worker_id in {li_id, sun_id} - offered:
            worker = await session.get(User, worker_id)
            await cases._offer(session, request, worker, reason="urgent", now=CLOCK.now(), assign=False)  # noqa: SLF001
        request_id, number = request.id, request.number
        await session.commit()
        data = CaseCB(action="accept", id=request_id).pack()
        # Both presses reach the bot in one batch of updates, in either order, handled concurrently.
        presses = [(li_jing, li_anchor), (sun, sun_anchor)]
        if trial % 2:
            presses.reverse()
        queries = [await person.press_data(data, message_id=anchor.message_id) for person, anchor in presses]
        answers = await asyncio.gather(*(person.wait_for_callback_answer(query, timeout=15)
                                         for (person, _anchor), query in zip(presses, queries, strict=True)))
        won = [a for a in answers if not a.show_alert]
        lost = [a for a in answers if a.show_alert]
        assert len(won) == 1 and len(lost) == 1, [a.text for a in answers]
        session.expire_all()
        row = await session.get(ServiceRequest, request_id)
        assert row.status is RequestStatus.ACCEPTED
        winners[row.assigned_worker_id] += 1
        holder = "李静" if row.assigned_worker_id == li_id else "孙"
        assert lost[0].text == T("Request {number} has already been accepted by {name}.", number=number,
                                 name=holder)
        accepted_events = (await session.scalars(select(RequestEvent).where(
            RequestEvent.request_id == request_id, RequestEvent.kind == EventKind.STATUS_CHANGED,
            RequestEvent.to_status == RequestStatus.ACCEPTED))).all()
        assert len(accepted_events) == 1
        await session.commit()
    assert sum(winners.values()) == trials
    print(f"accept race: {trials} trials, exactly one winner each; 李静 {winners[li_id]}, 孙 {winners[sun_id]}")


async def test_routing_levels_through_the_bot_specialist_then_support(emulator, session, world):
    """Level 1: a specialist of the service beats a less busy generalist; level 3: with nobody of the
    community on duty, a worker supporting it today has it (an expired support assignment does not count)."""
    from datetime import date

    from models import SupportAssignment, WorkerSpecialty

    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    zhao_min = emulator.user(world.people["zhao_min"].telegram_id, "赵敏")
    chen_gang = emulator.user(world.people["chen_gang"].telegram_id, "陈刚")
    specialist, specialist_id = await colleague(session, world, emulator, "专才")
    care = await session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == "elderly.community_care"))
    session.add(WorkerSpecialty(worker_id=specialist_id, category_id=care))
    await session.commit()

    marks = {who: who.mark() for who in (li_jing, specialist)}
    _resident, number = await file(emulator)
    await specialist.wait_for_message(number, after=marks[specialist], timeout=10)
    events = await timeline(session, number)
    assert [(e.subject_id, e.reason) for e in events if e.kind is EventKind.ROUTED] == [(specialist_id, "specialist")]
    assert not [m for m in li_jing.messages if m.seq > marks[li_jing] and number in m.text]

    # Everyone of 晨光 off duty; 赵敏 supports 晨光 today, 陈刚's support ended last month.
    await session.execute(update(SocialWorker).where(SocialWorker.home_community_id == world.communities["晨光社区"].id)
                          .values(on_duty=False))
    today = CLOCK.now().date()
    session.add_all([
        SupportAssignment(worker_id=world.people["zhao_min"].id, community_id=world.communities["晨光社区"].id,
                          starts_on=today - timedelta(days=3), ends_on=today + timedelta(days=3),
                          created_at=CLOCK.now()),
        SupportAssignment(worker_id=world.people["chen_gang"].id, community_id=world.communities["晨光社区"].id,
                          starts_on=date(2020, 1, 1), ends_on=today - timedelta(days=30), created_at=CLOCK.now()),
    ])
    await session.commit()
    marks = {who: who.mark() for who in (zhao_min, chen_gang)}
    _resident, number = await file(emulator)
    await zhao_min.wait_for_message(number, after=marks[zhao_min], timeout=10)
    events = await timeline(session, number)
    assert [(e.subject_id, e.reason) for e in events if e.kind is EventKind.ROUTED] == [
        (world.people["zhao_min"].id, "support")]
    assert not [m for m in chen_gang.messages if m.seq > marks[chen_gang] and number in m.text]


async def test_a_callback_is_answered_once_even_when_the_handler_answers_itself(emulator, session, world):
    """aiogram-dialog answers every callback it handles; a handler's own answer (an alert) comes instead, not twice."""
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    mark = li_jing.mark()
    _resident, number = await file(emulator)
    offer = await li_jing.wait_for_message(number, after=mark, timeout=10)
    await li_jing.press(T("↩️ Decline"), message_id=offer.message_id)
    await li_jing.wait_for_message(has_button(T("too many cases")))
    query = await li_jing.press(T("too many cases"))
    await li_jing.wait_for_message(T("You declined request {number}. It is being offered to the next social worker.",
                                     number=number))
    await settled(li_jing)
    answers = [c for c in emulator.calls if c.method.lower() == "answercallbackquery"
               and str(c.params.get("callback_query_id")) == str(query)]
    assert len(answers) == 1
