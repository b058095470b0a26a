"""Never stranded: after Cancel, a receipt, an error or a dead button the menu's buttons are there.

Also: staff are asked staff questions, and a coordinator's /start opens the coordinator menu.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update

from models import User
from tests.conftest import next_telegram_id
from tests.support import (
    COMMUNITY_BUTTON,
    T,
    callback_data_of,
    fill_request,
    has_button,
    onboard,
    requests_of,
    settled,
    user_row,
)

pytestmark = pytest.mark.usefixtures("app")

ASK = "🙋 Ask for help"


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_the_receipt_offers_the_way_on(emulator, lang):
    person = await onboard(emulator, lang=lang)
    await fill_request(person, lang=lang)
    await person.press(T("✅ Send request", lang))
    receipt = await person.wait_for_message(T("Send /my to see how it is going.", lang))
    assert T(ASK, lang) in receipt.buttons and T("📋 My requests", lang) in receipt.buttons
    await person.press(T(ASK, lang), message_id=receipt.message_id)
    await person.wait_for_message(has_button("老年人" if lang == "zh_CN" else "Older people"))


async def test_cancel_at_any_step_brings_the_menu_back(emulator, session):
    person = await onboard(emulator)
    await fill_request(person)
    await person.press(T("✖️ Cancel"))
    menu = await person.wait_for_message(has_button(T(ASK)))
    assert T("What would you like to do?") in menu.text
    assert person.reply_keyboard is None  # the sharing steps' keyboard went with the flow
    assert await requests_of(session, person) == []


async def test_a_cancelled_request_offers_to_ask_again(emulator, session):
    person = await onboard(emulator)
    await fill_request(person)
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, person)
    await person.send_text("/my")
    await person.wait_for_message(lambda m: any(request.number in b for b in m.buttons))
    await person.press(request.number)
    await person.wait_for_message(has_button(T("Cancel this request")))
    await person.press(T("Cancel this request"))
    await person.wait_for_message(has_button(T("Yes, cancel it")))
    await person.press(T("Yes, cancel it"))
    done = await person.wait_for_message(T("Request {number} is cancelled. Send /new whenever you need help again.",
                                           number=request.number))
    assert T(ASK) in done.buttons


async def test_a_failed_save_says_so_and_shows_the_menu(emulator, session, commit_failure):
    person = await onboard(emulator)
    await fill_request(person)
    commit_failure.arm()
    mark = person.mark()
    await person.press(T("✅ Send request"))
    menu = await person.wait_for_message(has_button(T(ASK)), after=mark)
    assert T("What would you like to do?") in menu.text
    await settled(person)
    assert person.callback_answers[-1].text == T(
        "Sorry, something went wrong on our side and nothing was saved. Please try again in a moment.")
    assert await requests_of(session, person) == []


async def test_a_dead_button_shows_the_menu(emulator):
    person = await onboard(emulator)
    await fill_request(person)
    summary = person.last_message
    stale = callback_data_of(summary, T("✅ Send request"))
    await person.send_text("/cancel")
    await person.wait_for_message(has_button(T(ASK)))
    mark = person.mark()
    await person.press_data(stale, message_id=summary.message_id)
    await person.wait_for_message(has_button(T(ASK)), after=mark)
    assert person.callback_answers[-1].text == T("This button is no longer active. Please use the menu below.")


async def test_an_invited_social_worker_is_asked_which_community_they_serve(emulator, world):
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    await zhou.send_text("/invite")
    await zhou.wait_for_message(has_button(T("Social worker")))
    await zhou.press(T("Social worker"))
    link = await zhou.wait_for_message(lambda m: "?start=inv_" in m.text)
    payload = link.text.split("?start=")[1].split()[0]

    newcomer = emulator.user(next_telegram_id(), "吴社工")
    await newcomer.send_text(f"/start {payload}")
    picker = await newcomer.wait_for_message(has_button(COMMUNITY_BUTTON[("桃园社区", "zh_CN")]))
    assert T("Which community do you serve? (page {page} of {pages})", page=1, pages=1) in picker.text
    assert "您住在哪个社区" not in picker.text


async def test_a_coordinators_start_opens_the_coordinator_menu(emulator, session, world):
    # The first coordinator, granted from the command line: no language, no community yet.
    await session.execute(update(User).where(User.id == world.people["zhou"].id).values(locale=None, community_id=None))
    await session.commit()
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")  # a Chinese client
    await zhou.send_text("/start")
    menu = await zhou.wait_for_message(has_button(T("✉️ Invite staff")))
    assert T("Welcome, {name}! You are a coordinator. Invite staff and follow the requests from here.",
             name=world.people["zhou"].display_name) in menu.text
    await zhou.send_text("/start")
    again = await zhou.wait_for_message(has_button(T("✉️ Invite staff")))
    assert "您住在哪个社区" not in again.text
    assert not [m for m in zhou.messages if "您住在哪个社区" in m.text]


@pytest.mark.parametrize(("client", "lang"), [("zh-hans", "zh_CN"), ("zh-CN", "zh_CN"), ("en-GB", "en"), ("en", "en")])
async def test_a_chinese_or_english_client_is_not_asked_for_its_language(emulator, session, client, lang):
    person = emulator.user(next_telegram_id(), "新来的", language_code=client)
    await person.send_text("/start")
    greeting = await person.wait_for_message(T("You can change the language at any time with /language (中文 / English).", lang))
    assert T("Hello! I am Linli. I can put you in touch with your community's social workers.", lang) in greeting.text
    assert greeting.buttons == []  # no language buttons
    await person.wait_for_message(has_button(COMMUNITY_BUTTON[("晨光社区", lang)]))
    await settled(person)
    menu = {c["command"]: c["description"] for c in emulator.commands(scope_type="chat", chat_id=person.id)}
    assert menu["new"] == T("Ask for help", lang)
    # Still changeable, and the community question follows in the new language.
    other = "en" if lang == "zh_CN" else "zh_CN"
    await person.send_text("/language")
    await person.press({"zh_CN": "中文", "en": "English"}[other], message_id=(
        await person.wait_for_message(has_button("English"))).message_id)
    await person.wait_for_message(T("Done: I will talk with you in English.", other))
    row = await user_row(session, person)
    assert row.locale == other


async def test_a_client_in_another_language_is_greeted_in_both_and_asked(emulator):
    person = emulator.user(next_telegram_id(), "Pierre", language_code="fr")
    await person.send_text("/start")
    greeting = await person.wait_for_message(has_button("English"))
    assert "您好" in greeting.text and "Hello" in greeting.text and "中文" in greeting.buttons


async def test_a_coordinator_asked_for_a_language_goes_straight_to_the_menu(emulator, world):
    from tests.test_e2e_staff import _invite_link

    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    payload = await _invite_link(zhou, T("Coordinator"))
    colleague = emulator.user(next_telegram_id(), "Claire", language_code="fr")
    await colleague.send_text(f"/start {payload}")
    await colleague.wait_for_message(has_button(T("✉️ Invite staff")))
    await colleague.send_text("/start")  # her client speaks French: the greeting asks once
    await colleague.wait_for_message(has_button("English"))
    await colleague.press("English")
    menu = await colleague.wait_for_message(has_button(T("✉️ Invite staff", "en")))
    assert "coordinator" in menu.text and "Which community" not in menu.text


async def test_a_dead_invitation_link_still_leads_somewhere_in_the_clients_language(emulator):
    person = emulator.user(next_telegram_id(), "Tom", language_code="en")
    await person.send_text("/start inv_no-such-token")
    await person.wait_for_message(T("This invitation link is not valid. Please ask your coordinator for a new one.", "en"))
    await person.wait_for_message(has_button(COMMUNITY_BUTTON[("晨光社区", "en")]))
