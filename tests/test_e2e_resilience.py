"""When something fails: the person is told in their language, nothing half-done is kept,
and Telegram's flood limits are honoured by the outbox."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select

from bot.services import cases as case_service
from bot.services import requests as request_service
from models import OutboxStatus, OutgoingMessage
from tests.conftest import CLOCK, next_telegram_id
from tests.support import COMMUNITY_BUTTON, T, fill_request, has_button, onboard, requests_of, user_row

pytestmark = pytest.mark.usefixtures("app")

SORRY = "Sorry, something went wrong on our side and nothing was saved. Please try again in a moment."


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_failure_is_reported_in_the_persons_language_and_rolled_back(emulator, session, monkeypatch, lang):
    person = await onboard(emulator, lang=lang)
    group = "老年人" if lang == "zh_CN" else "Older people"
    service = "生活照料（买菜、陪同就医等）" if lang == "zh_CN" else "Daily help (shopping, hospital visits…)"
    await fill_request(person, lang=lang, group=group, service=service)

    async def broken_routing(*args, **kwargs):
        raise RuntimeError("the routing table is on fire")

    # The request row is written, then routing fails: the whole update must roll back.
    monkeypatch.setattr(case_service, "start", broken_routing)
    query = await person.press(T("✅ Send request", lang))
    answer = await person.wait_for_callback_answer(query)
    assert answer.text == T(SORRY, lang) and answer.show_alert
    assert await requests_of(session, person) == []

    # Once it works again, the same draft goes through: nothing the person typed was lost.
    monkeypatch.undo()
    await person.press(T("✅ Send request", lang))
    await person.wait_for_message(T("Send /my to see how it is going.", lang))
    assert len(await requests_of(session, person)) == 1


async def test_a_failing_command_gets_a_message_not_silence(emulator, monkeypatch):
    person = await onboard(emulator)

    async def broken_list(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(request_service, "list_for_resident", broken_list)
    await person.send_text("/my")
    await person.wait_for_message(T(SORRY))


async def test_the_outbox_waits_out_a_flood_limit_and_still_delivers(emulator, session, world, app):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator)
    await fill_request(person, description="想请人陪我去社区医院量血压。")
    mark = li_jing.mark()
    # The next sendMessage (the announcement to 李静) is refused with 429 retry_after=1.
    emulator.inject_error("sendMessage", error_code=429, retry_after=1)
    await person.press(T("✅ Send request"))
    receipt = await person.wait_for_message(T("Send /my to see how it is going."))
    number = re.search(r"\d{4}-\d{6}", receipt.text).group(0)
    for _ in range(200):
        if any(f.error_code == 429 for f in emulator.failures):
            break
        await asyncio.sleep(0.02)
    assert any(f.error_code == 429 for f in emulator.failures)
    # The message waits for retry_after on the bot's clock, not on the wall clock.
    CLOCK.advance(seconds=1)
    app.sender.wake()
    notice = await li_jing.wait_for_message(number, after=mark, timeout=15)
    assert has_button(T("Open request"))(notice)
    # The sender records the outcome just after Telegram accepted the message.
    for _ in range(100):
        session.expire_all()
        rows = (await session.scalars(
            select(OutgoingMessage).where(OutgoingMessage.params["number"].as_string() == number))).all()
        await session.commit()
        if rows and all(r.status is OutboxStatus.SENT for r in rows):
            break
        await asyncio.sleep(0.05)
    assert rows and [r.status for r in rows] == [OutboxStatus.SENT] * len(rows)
    # Delivered after the pause: Telegram gave each row a message id (attempt counting on 429
    # is covered by tests/test_outbox.py).
    assert all(r.telegram_message_id is not None for r in rows)


@pytest.mark.parametrize(("code", "retry_after"), [(502, 0), (429, 1)])
async def test_a_busy_telegram_at_confirm_delays_the_receipt_but_files_once(emulator, session, code, retry_after):
    person = await onboard(emulator)
    await fill_request(person, description="需要有人陪我去医院拿药。")
    emulator.inject_error("editMessageText", error_code=code, retry_after=retry_after)
    await person.press(T("✅ Send request"))
    # The request was committed before the receipt; the receipt is retried, not lost.
    await person.wait_for_message(T("Send /my to see how it is going."), timeout=15)
    assert any(f.error_code == code for f in emulator.failures)
    [request] = await requests_of(session, person)
    assert request.description == "需要有人陪我去医院拿药。"


async def test_a_reply_that_keeps_failing_is_reported_and_the_step_can_be_repeated(emulator, session):
    person = await onboard(emulator)
    await person.send_text("/new")
    menu = await person.wait_for_message(has_button("老年人"))
    # Every retry of the step's edit fails: the person is told, and the dialog stays on step 1.
    emulator.inject_error("editMessageText", error_code=502, description="Bad Gateway", times=4)
    query = await person.press("老年人")
    answer = await person.wait_for_callback_answer(query, timeout=20)
    assert answer.text == T(SORRY) and answer.show_alert
    await person.press("老年人", message_id=menu.message_id)
    await person.wait_for_message(has_button("康复训练"))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_failed_commit_at_confirm_says_not_saved_and_keeps_the_draft(emulator, session, commit_failure, lang):
    person = await onboard(emulator, lang=lang)
    await fill_request(person, lang=lang, description="需要有人陪我去医院拿药。")
    summary = person.last_message
    commit_failure.arm()
    query = await person.press(T("✅ Send request", lang))
    answer = await person.wait_for_callback_answer(query)
    assert commit_failure.fired == 1
    # No receipt, no number: only "not saved, please try again".
    assert answer.text == T(SORRY, lang)
    assert not [m for m in person.messages if T("Send /my to see how it is going.", lang) in m.text]
    assert await requests_of(session, person) == []
    assert next(m for m in person.messages if m.message_id == summary.message_id).text == summary.text
    # Pressing again files exactly one request from the same draft.
    await person.press(T("✅ Send request", lang))
    await person.wait_for_message(T("Send /my to see how it is going.", lang))
    [request] = await requests_of(session, person)
    assert request.description == "需要有人陪我去医院拿药。"


async def test_a_failed_commit_when_cancelling_a_request_keeps_it_and_can_be_retried(emulator, session, commit_failure):
    person = await onboard(emulator)
    await fill_request(person, description="腿伤后需要康复训练指导。")
    await person.press(T("✅ Send request"))
    receipt = await person.wait_for_message(T("Send /my to see how it is going."))
    number = re.search(r"\d{4}-\d{6}", receipt.text).group(0)
    await person.send_text("/my")
    listing = await person.wait_for_message(lambda m: any(number in b for b in m.buttons))
    await person.press(next(b for b in listing.buttons if number in b))
    await person.wait_for_message(has_button(T("Cancel this request")))
    await person.press(T("Cancel this request"))
    ask = await person.wait_for_message(has_button(T("Yes, cancel it")))

    commit_failure.arm()
    query = await person.press(T("Yes, cancel it"), message_id=ask.message_id)
    answer = await person.wait_for_callback_answer(query)
    assert commit_failure.fired == 1 and answer.text == T(SORRY)
    # Not "cancelled": the question is still there and the request is still open.
    assert T("Yes, cancel it") in next(m for m in person.messages if m.message_id == ask.message_id).buttons
    [request] = await requests_of(session, person)
    assert request.status.value == "offered"

    await person.press(T("Yes, cancel it"), message_id=ask.message_id)
    await person.wait_for_message(T("Request {number} is cancelled. Send /new whenever you need help again.",
                                    number=number))
    [request] = await requests_of(session, person)
    assert request.status.value == "cancelled"


async def test_a_failed_commit_at_language_choice_keeps_the_old_language(emulator, session, commit_failure):
    person = await onboard(emulator, lang="zh_CN")
    await person.send_text("/language")
    await person.wait_for_message(has_button("English"))
    commit_failure.arm()
    query = await person.press("English")
    answer = await person.wait_for_callback_answer(query)
    assert commit_failure.fired == 1
    assert answer.text == T(SORRY, "zh_CN")  # said in the language still saved
    assert not [m for m in person.messages if T("Done: I will talk with you in English.", "en") in m.text]
    assert (await user_row(session, person)).locale == "zh_CN"
    await person.press("English")
    await person.wait_for_message(T("Done: I will talk with you in English.", "en"))
    assert (await user_row(session, person)).locale == "en"


async def test_a_failed_commit_when_choosing_ones_community_keeps_the_picker(emulator, session, commit_failure):
    person = emulator.user(next_telegram_id(), "新邻居", language_code=None)
    await person.send_text("/start")
    await person.wait_for_message(has_button("中文"))
    await person.press("中文")
    picker = await person.wait_for_message(has_button(COMMUNITY_BUTTON[("晨光社区", "zh_CN")]))
    commit_failure.arm()
    query = await person.press(COMMUNITY_BUTTON[("晨光社区", "zh_CN")], message_id=picker.message_id)
    answer = await person.wait_for_callback_answer(query)
    assert commit_failure.fired == 1 and answer.text == T(SORRY)
    assert (await user_row(session, person)).community is None
    # The same picker still works: nothing was closed by the failed attempt.
    await person.press(COMMUNITY_BUTTON[("晨光社区", "zh_CN")], message_id=picker.message_id)
    await person.wait_for_message(T("What would you like to do?"))
    assert (await user_row(session, person)).community.name == "晨光社区"
