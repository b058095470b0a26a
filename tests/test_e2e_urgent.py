"""Urgent and crisis requests, end to end: offered to every on-duty worker at once, the first to
accept has it; crisis words make a request urgent by themselves, alert the supervisor and show
the resident the emergency numbers."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import EventKind, RequestEvent, RequestStatus, ServiceRequest, Urgency
from tests.support import T, fill_request, has_button, onboard
from tests.test_e2e_offers import colleague, request_row

pytestmark = pytest.mark.usefixtures("app")

NUMBER = re.compile(r"\d{4}-\d{6}")
EMERGENCY = {"zh_CN": "110（报警）、120（急救）", "en": "110 (police), 120 (ambulance)"}


async def events_of(session, number: str) -> list[RequestEvent]:  # noqa: ANN001
    session.expire_all()
    request = await session.scalar(select(ServiceRequest).where(ServiceRequest.number == number))
    rows = list((await session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id)
                                       .order_by(RequestEvent.id))).all())
    await session.commit()
    return rows


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_request_marked_urgent_goes_to_every_worker_on_duty_and_the_first_to_accept_has_it(
    emulator, session, world, lang
):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    sun, sun_id = await colleague(session, world, emulator, "孙", locale=lang)
    off, _off_id = await colleague(session, world, emulator, "钱", on_duty=False)
    supervisor, _ = await colleague(session, world, emulator, "马督导", on_duty=False, supervisor=True)
    resident = await onboard(emulator, lang=lang)
    await fill_request(resident, lang=lang, description="家里水管爆了，老人腿脚不便，今天就需要人来。")

    summary = resident.last_message
    assert T("🚨 Urgent: help is needed today.", lang) not in summary.text
    await resident.press(T("🚨 Mark as urgent", lang))
    summary = await resident.wait_for_message(T("🚨 Urgent: help is needed today.", lang))
    assert T("🚨 Urgent ✔️ (tap to undo)", lang) in summary.buttons
    marks = {who: who.mark() for who in (li_jing, sun, off, supervisor)}
    await resident.press(T("✅ Send request", lang))
    receipt = await resident.wait_for_message(T("Send /my to see how it is going.", lang))
    assert T("🚨 It is marked urgent: every social worker on duty there has been told.", lang) in receipt.text
    assert T("If anyone is in danger right now, please call {numbers}.", lang, numbers=EMERGENCY[lang]) in receipt.text
    number = NUMBER.search(receipt.text).group(0)

    to_li = await li_jing.wait_for_message(number, after=marks[li_jing], timeout=10)
    to_sun = await sun.wait_for_message(number, after=marks[sun], timeout=10)
    assert "🚨" in to_li.text and "🚨" in to_sun.text
    request = await request_row(session, number)
    assert (request.urgency, request.status, request.assigned_worker_id) == (Urgency.URGENT, RequestStatus.OFFERED,
                                                                            None)

    # 孙 is first; 李静's press is told who has it. Nobody off duty was bothered; no crisis, no supervisor alert.
    await sun.press(T("✅ Accept", lang), message_id=to_sun.message_id)
    await sun.wait_for_message(T("Timeline:", lang))
    told = await li_jing.wait_for_message(T("Request {number} has been accepted by {name}; nothing more for you to do.",
                                            number=number, name="孙"), after=marks[li_jing], timeout=10)
    assert told
    query = await li_jing.press(T("✅ Accept"), message_id=to_li.message_id)
    answer = await li_jing.wait_for_callback_answer(query)
    assert answer.text == T("Request {number} has already been accepted by {name}.", number=number, name="孙")
    request = await request_row(session, number)
    assert (request.status, request.assigned_worker_id) == (RequestStatus.ACCEPTED, sun_id)
    assert not [m for m in off.messages if m.seq > marks[off] and number in m.text]
    assert not [m for m in supervisor.messages if m.seq > marks[supervisor] and number in m.text]
    events = await events_of(session, number)
    assert [(e.kind, e.reason) for e in events if e.kind in (EventKind.URGENT, EventKind.ESCALATED)] == [
        (EventKind.URGENT, "resident")]
    assert sorted(e.reason for e in events if e.kind is EventKind.OFFERED) == ["urgent", "urgent"]
    assert [e.subject_id for e in events if e.kind is EventKind.OFFER_WITHDRAWN] == [world.people["li_jing"].id]


@pytest.mark.parametrize(
    ("lang", "words", "risk"),
    [
        ("zh_CN", "老伴走了以后我真的不想活了，晚上睡不着。", "self-harm or suicide"),
        ("en", "My husband beats me when he drinks and I am afraid to go home.", "violence at home"),
        ("zh_CN", "邻居家孩子一个人在家两天了，大人不知道去哪了。", "a child alone or in danger"),
    ],
)
async def test_crisis_words_make_a_request_urgent_and_alert_the_supervisor_at_once(
    emulator, session, world, lang, words, risk
):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    supervisor, supervisor_id = await colleague(session, world, emulator, "马督导", on_duty=False, supervisor=True)
    resident = await onboard(emulator, lang=lang)
    await fill_request(resident, lang=lang, description=words)
    marks = {who: who.mark() for who in (li_jing, supervisor)}
    await resident.press(T("✅ Send request", lang))  # not marked urgent by her
    receipt = await resident.wait_for_message(T("Send /my to see how it is going.", lang))
    number = NUMBER.search(receipt.text).group(0)
    assert T("If anyone is in danger right now, please call {numbers}.", lang, numbers=EMERGENCY[lang]) in receipt.text

    alert = await supervisor.wait_for_message(number, after=marks[supervisor], timeout=10)
    assert alert.text.startswith("🆘") and T(risk, "zh_CN") in alert.text
    assert T("Open request", "zh_CN") in alert.buttons
    offer = await li_jing.wait_for_message(number, after=marks[li_jing], timeout=10)
    assert "🚨" in offer.text

    # The supervisor opens it (no offer needed): the card says why.
    await supervisor.press(T("Open request"), message_id=alert.message_id)
    card = await supervisor.wait_for_message(T("Timeline:"))
    assert T("🚨 Urgent") in card.text
    assert T("marked urgent: its words suggest {risks}", risks=T(risk)) in card.text
    events = await events_of(session, number)
    assert [(e.kind, e.reason, e.subject_id) for e in events if e.kind in (EventKind.URGENT, EventKind.ESCALATED)] == [
        (EventKind.URGENT, "risk_words", None), (EventKind.ESCALATED, "crisis", supervisor_id)]

    # The resident sees it is urgent, not which words were flagged.
    await resident.send_text("/my")
    listing = await resident.wait_for_message(lambda m: any(number in b for b in m.buttons))
    await resident.press(next(b for b in listing.buttons if number in b))
    own = await resident.wait_for_message(T("Timeline:", lang))
    assert T("marked urgent", lang) in own.text and T(risk, lang) not in own.text


async def test_ordinary_words_do_not_make_a_request_urgent(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    resident = await onboard(emulator)
    await fill_request(resident, description="请打我电话，想问问怎么申请居家养老服务。")
    mark = li_jing.mark()
    await resident.press(T("✅ Send request"))
    receipt = await resident.wait_for_message(T("Send /my to see how it is going."))
    assert "110" not in receipt.text
    number = NUMBER.search(receipt.text).group(0)
    offer = await li_jing.wait_for_message(has_button(T("✅ Accept")), after=mark, timeout=10)
    assert number in offer.text and "🚨" not in offer.text
    assert (await request_row(session, number)).urgency is Urgency.NORMAL
