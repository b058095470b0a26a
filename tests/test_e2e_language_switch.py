"""Switching language in the middle of /new: the step comes again in the new language,
nothing entered is lost, and buttons shown in the old language still mean what they said."""

from __future__ import annotations

import pytest

from models import RequestStatus
from tests.support import DAILY_CARE, ELDERLY, LANGUAGE_BUTTON, T, has_button, onboard, requests_of, user_row

pytestmark = pytest.mark.usefixtures("app")

LOCATION_STEP = "If you would like a home visit, you can send your location."
PHONE_STEP = "May the social worker call you? Tap the button to share your phone number."


def _reply_button(person, label: str) -> str:  # noqa: ANN001
    """The full text of a shown reply button (its label plus any invisible data), as a client sends it."""
    texts = [button["text"] for row in person.reply_keyboard["keyboard"] for button in row]
    return next(text for text in texts if text.startswith(label))


async def _switch(person, to: str) -> None:  # noqa: ANN001
    await person.send_text("/language")
    await person.wait_for_message(has_button(LANGUAGE_BUTTON[to]))
    await person.press(LANGUAGE_BUTTON[to])
    await person.wait_for_message(T("Done: I will talk with you in English.", to))


@pytest.mark.parametrize(("before", "after"), [("zh_CN", "en"), ("en", "zh_CN")])
async def test_old_skip_back_and_cancel_buttons_work_after_a_switch(emulator, session, before, after):
    person = await onboard(emulator, lang=before)
    await person.send_text("/new")
    await person.wait_for_message(has_button(ELDERLY[before]))
    await person.press(ELDERLY[before])
    await person.wait_for_message(has_button(DAILY_CARE[before]))
    await person.press(DAILY_CARE[before])
    # Wait for step 3: with Redis, aiogram's per-person lock is not first-come-first-served,
    # so a text sent right behind a press may be handled before it.
    await person.wait_for_message(T("Please tell us in a few words what help you need.", before))
    await person.send_text("上周摔了一跤，需要有人帮忙买菜。")
    await person.wait_for_message(T(LOCATION_STEP, before))
    old_skip = _reply_button(person, T("Skip", before))

    await _switch(person, after)
    # The same step again, in the new language.
    await person.wait_for_message(T(LOCATION_STEP, after))
    assert T("Skip", after) in person.reply_buttons

    # "Skip" as it was shown before the switch still skips.
    await person.send_text(old_skip)
    await person.wait_for_message(T(PHONE_STEP, after))
    old_back = _reply_button(person, T("⬅️ Back", after))
    await _switch(person, before)
    await person.wait_for_message(T(PHONE_STEP, before))
    # "Back" shown in the other language still goes back one step, and the description is kept.
    await person.send_text(old_back)
    await person.wait_for_message(T(LOCATION_STEP, before))
    old_cancel = _reply_button(person, T("✖️ Cancel", before))
    await _switch(person, after)
    await person.wait_for_message(T(LOCATION_STEP, after))
    await person.send_text(old_cancel)
    await person.wait_for_message(T("Cancelled. Your request was not sent. Send /new whenever you need help.", after))
    assert await requests_of(session, person) == []
    assert (await user_row(session, person)).locale == after


async def test_the_description_survives_a_switch_and_is_filed(emulator, session):
    person = await onboard(emulator, lang="en")
    await person.send_text("/new")
    await person.wait_for_message(has_button(ELDERLY["en"]))
    await person.press(ELDERLY["en"])
    await person.wait_for_message(has_button(DAILY_CARE["en"]))
    await person.press(DAILY_CARE["en"])
    await person.wait_for_message(T("Please tell us in a few words what help you need.", "en"))
    await person.send_text("I need help with shopping after a fall.")
    await person.wait_for_message(T(LOCATION_STEP, "en"))
    await _switch(person, "zh_CN")
    await person.wait_for_message(T(LOCATION_STEP, "zh_CN"))
    await person.tap_reply(T("Skip", "zh_CN"))
    await person.wait_for_message(T(PHONE_STEP, "zh_CN"))
    await person.tap_reply(T("Skip", "zh_CN"))
    summary = await person.wait_for_message(has_button(T("✅ Send request", "zh_CN")))
    assert "I need help with shopping after a fall." in summary.text and DAILY_CARE["zh_CN"] in summary.text
    await person.press(T("✅ Send request", "zh_CN"))
    await person.wait_for_message(T("Send /my to see how it is going.", "zh_CN"))
    [request] = await requests_of(session, person)
    assert request.description == "I need help with shopping after a fall."
    assert request.status is RequestStatus.OFFERED
