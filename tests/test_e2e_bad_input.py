"""Bad input gets a clear, localized message and loses nothing."""

from __future__ import annotations

import asyncio
import re

import pytest

from handlers.callbacks import RequestCB
from models import RequestStatus
from tests.conftest import next_telegram_id
from tests.support import (
    COMMUNITY_BUTTON,
    LANGUAGE_BUTTON,
    T,
    accept_offer,
    callback_data_of,
    fill_request,
    has_button,
    onboard,
    requests_of,
)

pytestmark = pytest.mark.usefixtures("app")


async def _at_description_step(emulator, lang="zh_CN"):
    person = await onboard(emulator, lang=lang)
    group, service = ("老年人", "生活照料（买菜、陪同就医等）") if lang == "zh_CN" else (
        "Older people", "Daily help (shopping, hospital visits…)")
    await person.send_text("/new")
    await person.wait_for_message(has_button(group))
    await person.press(group)
    await person.wait_for_message(has_button(service))
    await person.press(service)
    await person.wait_for_message(T("Please tell us in a few words what help you need.", lang))
    return person


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
@pytest.mark.parametrize(
    ("text", "msgid"),
    [
        ("   ", "Please describe in a few words what help you need."),
        ("\u3000\n\t ", "Please describe in a few words what help you need."),
        ("帮" * 5000, "The description is too long. Please keep it within {limit} characters."),
        ("😀😭🙏", "“{text}” is too short for the social worker to understand. Please say who needs help and with "
                    "what, for example “my mother needs help to see a doctor”, or send a voice message."),
    ],
    ids=["whitespace", "fullwidth-whitespace", "5000-chars", "emoji-only"],
)
async def test_a_bad_description_is_explained_and_the_draft_kept(emulator, session, lang, text, msgid):
    person = await _at_description_step(emulator, lang)
    await person.send_text(text)
    await person.wait_for_message(T(msgid, lang, limit=500, text=text.strip()))
    # Still on the same step: a good description goes through, earlier choices intact.
    await person.send_text("需要有人帮忙买菜。")
    await person.wait_for_message(T("If you would like a home visit, you can send your location.", lang))
    assert await requests_of(session, person) == []


async def test_an_empty_message_is_refused_by_telegram_and_the_step_survives(emulator):
    person = await _at_description_step(emulator)
    # Telegram clients cannot send an empty text at all; a sticker is the closest "nothing said".
    with pytest.raises(ValueError):
        await person.send_text("")
    await person.send_sticker()
    await person.wait_for_message(T("Please type a few words, or send a voice message, a photo or a video message."))
    await person.send_document()  # a file is not a description either
    await person.wait_for_message(T("Please type a few words, or send a voice message, a photo or a video message."))
    await person.send_text("需要有人帮忙买菜。")
    await person.wait_for_message(T("If you would like a home visit, you can send your location."))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_photo_caption_that_says_nothing_is_explained_and_the_photo_kept(emulator, lang):
    person = await _at_description_step(emulator, lang)
    await person.send_photo(caption="🙏")
    await person.wait_for_message(T("“{text}” is too short for the social worker to understand. Please say who needs "
                                    "help and with what, for example “my mother needs help to see a doctor”, or send "
                                    "a voice message.", lang, text="🙏"))
    shown = await person.wait_for_message(has_button(T("➡️ Continue", lang)))
    assert T("Received: {media}. Send more, type a few words, or tap “➡️ Continue”.", lang,
             media="照片1张" if lang == "zh_CN" else "1 photo") in shown.text


async def test_typing_instead_of_pressing_a_button(emulator):
    person = await onboard(emulator)
    await person.send_text("/new")
    await person.wait_for_message(has_button("老年人"))
    await person.send_text("老年人")
    await person.wait_for_message(T("Please use the buttons above, or send /cancel to stop."))
    await person.press("老年人")  # the menu still works
    await person.wait_for_message(has_button("康复训练"))


async def _at_phone_step(emulator, lang: str = "zh_CN"):  # noqa: ANN001, ANN202
    person = await _at_description_step(emulator, lang)
    await person.send_text("需要有人帮忙买菜。")
    await person.wait_for_message(T("If you would like a home visit, you can send your location.", lang))
    await person.tap_reply(T("Skip", lang))
    await person.wait_for_message(T("May the social worker call you? Tap the button to share your phone number.", lang))
    return person


@pytest.mark.parametrize(
    "typed",
    ["12345", "95588", "abc", "1391234567", "1" * 40, "+86 139"],
    ids=["short", "service-number", "letters", "10-digit-mobile", "oversized", "incomplete"],
)
async def test_a_typed_phone_number_that_cannot_be_called_is_refused_and_the_step_stays(emulator, session, typed):
    person = await _at_phone_step(emulator)
    await person.send_text(typed)
    refusal = await person.wait_for_message(
        lambda m: T("This does not look like a phone number. Please type a mobile number such as 13912345678, "
                    "or a landline with its area code such as 0351-1234567.") in m.text
        or "不是可以拨打的电话号码" in m.text
    )
    assert refusal.text
    await person.send_location(1.0, 2.0)  # neither a number nor a button
    await person.wait_for_message(T("Please type a phone number, tap the button below to share yours, or tap “Skip”."))
    await person.send_text("13912345678")  # the step is still there and takes a good number
    await person.wait_for_message(T("Whose number is {phone}?", phone="139 1234 5678"))
    assert await requests_of(session, person) == []


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_unknown_community_name(emulator, session, lang):
    not_found = "I could not find a community called “{query}”. Please try another name, or choose from the list."
    person = emulator.user(next_telegram_id(), "迷路的人", language_code=None)
    await person.send_text("/start")
    await person.wait_for_message(has_button(LANGUAGE_BUTTON[lang]))
    await person.press(LANGUAGE_BUTTON[lang])
    await person.wait_for_message(has_button(COMMUNITY_BUTTON[("晨光社区", lang)]))
    await person.send_text("不存在的社区")
    reply = await person.wait_for_message(T(not_found, lang, query="不存在的社区"))
    assert T("📋 Show the whole list", lang) in reply.buttons
    await person.send_text("%")  # a LIKE wildcard is not a match-all
    await person.wait_for_message(T(not_found, lang, query="%"))
    await person.press(T("📋 Show the whole list", lang))
    await person.wait_for_message(has_button(COMMUNITY_BUTTON[("晨光社区", lang)]))
    await person.send_photo()
    await person.wait_for_message(T("Please type the name of your community, or tap it in the list above.", lang))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_new_before_choosing_a_community(emulator, lang):
    person = emulator.user(next_telegram_id(), "着急的人", language_code=None)
    await person.send_text("/start")
    await person.wait_for_message(has_button(LANGUAGE_BUTTON[lang]))
    await person.press(LANGUAGE_BUTTON[lang])
    await person.wait_for_message(T("Tap it below, or type its name to search.", lang))
    await person.send_text("/new")
    await person.wait_for_message(
        T("Please choose your community first, so the right social worker gets your request.", lang))
    picker = await person.wait_for_message(has_button(COMMUNITY_BUTTON[("晨光社区", lang)]))
    assert T("Tap it below, or type its name to search.", lang) in picker.text


async def test_new_as_the_very_first_message(emulator, session):
    person = emulator.user(next_telegram_id(), "第一次")
    await person.send_text("/new")
    await person.wait_for_message(T("Please choose your community first, so the right social worker gets your request."))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_an_old_button_after_cancelling_does_nothing(emulator, session, lang):
    group = "老年人" if lang == "zh_CN" else "Older people"
    person = await onboard(emulator, lang=lang)
    await person.send_text("/new")
    menu = await person.wait_for_message(has_button(group))
    data = callback_data_of(menu, group)
    await person.send_text("/cancel")
    await person.wait_for_message(T("Cancelled.", lang))
    # The old menu lost its buttons; a press that was on its way (or forged) is refused.
    query = await person.press_data(data, message_id=menu.message_id)
    answer = await person.wait_for_callback_answer(query)
    assert answer.text == T("This button is no longer active. Please use the menu below.", lang)
    assert await requests_of(session, person) == []


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_pressing_confirm_twice_files_one_request(emulator, session, lang):
    person = await onboard(emulator, lang=lang)
    await fill_request(person, lang=lang, group="老年人" if lang == "zh_CN" else "Older people",
                       service="康复训练" if lang == "zh_CN" else "Rehabilitation")
    summary = person.last_message
    first = await person.press(T("✅ Send request", lang), message_id=summary.message_id)
    second = await person.press(T("✅ Send request", lang), message_id=summary.message_id)
    await person.wait_for_callback_answer(first)
    late = await person.wait_for_callback_answer(second)
    requests = await requests_of(session, person)
    assert len(requests) == 1
    # The late press is told the request is in, not invited to start again.
    assert late.text == T("Your request {number} was already received.", lang, number=requests[0].number)
    # The second press is told the request was already received (or that the button is spent).
    receipts = [m for m in person.messages if m.text.startswith("✅") and requests[0].number in m.text]
    assert len(receipts) == 1


async def test_confirm_pressed_twice_at_the_same_moment(emulator, session):
    person = await onboard(emulator)
    await fill_request(person)
    summary = person.last_message
    queries = await asyncio.gather(
        *(person.press(T("✅ Send request"), message_id=summary.message_id) for _ in range(3))
    )
    for query in queries:
        await person.wait_for_callback_answer(query)
    assert len(await requests_of(session, person)) == 1  # after all three presses were handled


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_forged_callback_data_cannot_open_or_cancel_anothers_request(emulator, session, lang):
    owner = await onboard(emulator, name="甲")
    await fill_request(owner)
    await owner.press(T("✅ Send request"))
    await owner.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, owner)

    intruder = await onboard(emulator, name="乙", lang=lang)
    anchor = intruder.last_message
    for action, msgid in (
        ("view", "This request is not yours to open."),
        ("cancel", "This request is not yours to open."),
        ("cancel_yes", "Only the person who filed a request can cancel it."),
    ):
        query = await intruder.press_data(RequestCB(action=action, id=request.id).pack(), message_id=anchor.message_id)
        answer = await intruder.wait_for_callback_answer(query)
        assert answer.text == T(msgid, lang) and answer.show_alert
    assert not any(request.number in m.text for m in intruder.messages)
    [still] = await requests_of(session, owner)
    assert still.status is RequestStatus.OFFERED

    # Malformed data and ids that do not exist are refused the same calm way.
    for data in ("rq:view:not-a-number", "rq:explode:1", "xx:1", RequestCB(action="view", id=10**9).pack()):
        query = await intruder.press_data(data, message_id=anchor.message_id)
        answer = await intruder.wait_for_callback_answer(query)
        assert answer.text in {T("This button is no longer active. Please use the menu below.", lang),
                               T("This request could not be found.", lang)}


async def test_a_cancelled_request_cannot_be_cancelled_again(emulator, session):
    person = await onboard(emulator)
    await fill_request(person)
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, person)
    anchor = person.last_message
    first = await person.press_data(RequestCB(action="cancel_yes", id=request.id).pack(), message_id=anchor.message_id)
    await person.wait_for_callback_answer(first)
    second = await person.press_data(RequestCB(action="cancel_yes", id=request.id).pack(), message_id=anchor.message_id)
    answer = await person.wait_for_callback_answer(second)
    assert answer.text == T("Request {number} can no longer be cancelled.", number=request.number)


async def test_an_unknown_command_and_stray_text(emulator):
    person = await onboard(emulator)
    await person.send_text("/frobnicate")
    await person.wait_for_message(T("I do not know this command. Send /help to see what I can do."))
    await person.send_text("你好")
    await person.wait_for_message(has_button(T("🙋 Ask for help")))


async def test_names_and_searches_that_look_like_html_are_shown_as_typed(emulator, session):
    person = await onboard(emulator, name="小明<3 & <b>")
    await person.send_text("/start")
    welcome = await person.wait_for_message("小明<3 & <b>")
    assert "小明<3 & <b>" in welcome.text
    await person.press(T("🏘 Change my community"))
    await person.wait_for_message(has_button("桃园社区 · 和平街道"))
    await person.send_text("晨光<小区>")
    await person.wait_for_message(T(
        "I could not find a community called “{query}”. Please try another name, or choose from the list.",
        query="晨光<小区>"))


async def test_the_bot_keeps_quiet_in_group_chats(emulator, app, session):
    from aiogram.types import Chat, Message, Update
    from aiogram.types import User as TgUser

    calls_before = len(emulator.calls)
    group_id = -100123
    someone = TgUser(id=next_telegram_id(), is_bot=False, first_name="群友")
    group = Chat(id=group_id, type="supergroup", title="晨光社区居民群")
    for text in ("/new", "/my", "/start"):
        message = Message(message_id=1, date=0, chat=group, from_user=someone, text=text)
        await app.dispatcher.feed_update(app.bot, Update(update_id=10**9, message=message))
    to_group = [c for c in emulator.calls[calls_before:] if str(c.params.get("chat_id")) == str(group_id)]
    assert to_group == []  # requests, phone numbers and summaries never go to a group
    # ...and the group's members are not made users of the bot.
    from sqlalchemy import select

    from models import User

    assert await session.scalar(select(User).where(User.telegram_id == someone.id)) is None


async def test_descriptions_that_look_like_html_reach_everyone_as_typed(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator, name="<i>邻居</i>")
    typed = "血压<140 & 心跳>100，<b>头晕</b>"
    await fill_request(person, description=typed)
    assert typed in person.last_message.text  # the summary
    mark = li_jing.mark()
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    notice = await li_jing.wait_for_message(typed, after=mark, timeout=10)
    assert typed in notice.text
    number = re.search(r"\d{4}-\d{6}", notice.text).group(0)
    card = await accept_offer(li_jing, number, mark)
    assert typed in card.text and "<i>邻居</i>" in card.text


async def test_a_menu_from_an_abandoned_start_does_not_drive_the_new_one(emulator, session):
    person = await onboard(emulator)
    await person.send_text("/new")
    old = await person.wait_for_message(has_button("老年人"))
    old_data = callback_data_of(old, "老年人")
    await person.send_text("/new")
    new = await person.wait_for_message(has_button("老年人"))
    assert new.message_id != old.message_id
    query = await person.press_data(old_data, message_id=old.message_id)
    answer = await person.wait_for_callback_answer(query)
    assert answer.text == T("This button is no longer active. Please use the menu below.")
    await person.press("老年人", message_id=new.message_id)
    await person.wait_for_message(has_button("康复训练"))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
@pytest.mark.parametrize("step", ["menu", "description", "location", "phone", "summary"])
async def test_cancel_at_any_step_leaves_the_flow_and_files_nothing(emulator, session, lang, step):
    group, service = ("老年人", "康复训练") if lang == "zh_CN" else ("Older people", "Rehabilitation")
    person = await onboard(emulator, lang=lang)
    await person.send_text("/new")
    await person.wait_for_message(has_button(group))
    if step != "menu":
        await person.press(group)
        await person.wait_for_message(has_button(service))
        await person.press(service)
        await person.wait_for_message(T("Please tell us in a few words what help you need.", lang))
    if step in {"location", "phone", "summary"}:
        await person.send_text("腿伤后需要康复训练。")
        await person.wait_for_message(T("If you would like a home visit, you can send your location.", lang))
    if step in {"phone", "summary"}:
        await person.tap_reply(T("Skip", lang))
        await person.wait_for_message(
            T("May the social worker call you? Tap the button to share your phone number.", lang))
    if step == "summary":
        await person.tap_reply(T("Skip", lang))
        await person.wait_for_message(has_button(T("✅ Send request", lang)))

    if step in {"menu", "description", "summary"}:
        await person.press(T("✖️ Cancel", lang))  # an inline button
    else:
        await person.tap_reply(T("✖️ Cancel", lang))  # a reply-keyboard button
    done = await person.wait_for_message(
        T("Cancelled. Your request was not sent. Send /new whenever you need help.", lang))
    assert person.reply_keyboard is None or person.reply_keyboard.get("remove_keyboard")
    assert done.buttons == []
    assert await requests_of(session, person) == []
    # Out of the flow: typing now is not taken as a description.
    await person.send_text("腿伤后需要康复训练。")
    await person.wait_for_message(has_button(T("🙋 Ask for help", lang)))


async def test_after_the_receipt_the_flow_is_over(emulator, session):
    person = await onboard(emulator)
    await fill_request(person)
    await person.press(T("✅ Send request"))
    receipt = await person.wait_for_message(T("Send /my to see how it is going."))
    assert T("📋 My requests") in receipt.buttons
    # Typing a thank-you is not a new request, and there is nothing left to cancel.
    await person.send_text("谢谢你们！")
    menu = await person.wait_for_message(T("What would you like to do?"))
    assert T("🙋 Ask for help") in menu.buttons
    assert T("Send /my to see how it is going.") not in menu.text
    await person.send_text("/cancel")
    await person.wait_for_message(T("There is nothing to cancel."))
    [request] = await requests_of(session, person)
    assert request.status is RequestStatus.OFFERED


async def test_a_new_command_mid_flow_takes_the_reply_keyboard_away(emulator):
    person = await _at_description_step(emulator)
    await person.send_text("腿伤后需要康复训练。")
    await person.wait_for_message(T("If you would like a home visit, you can send your location."))
    assert person.reply_buttons
    await person.send_text("/start")
    await person.wait_for_message(T("Welcome back, {name}! Your community: {community}.", name="居民",
                                    community="晨光社区"))
    assert not person.reply_buttons  # no stale 📍/Skip keyboard under the main menu


async def test_changing_community_offers_no_way_back_into_the_first_greeting(emulator):
    person = await onboard(emulator)
    await person.press(T("🏘 Change my community"))
    picker = await person.wait_for_message(has_button(COMMUNITY_BUTTON[("桃园社区", "zh_CN")]))
    assert T("⬅️ Back") not in picker.buttons and T("✖️ Cancel") in picker.buttons
    # A forged Back (the button is not shown here) does not lead into the greeting either.
    intent = callback_data_of(picker, T("✖️ Cancel")).split("\x1d")[0]
    query = await person.press_data(f"{intent}\x1dback", message_id=picker.message_id)
    answer = await person.wait_for_callback_answer(query)
    assert answer.text == T("This button is no longer active.")
    await person.press(T("✖️ Cancel"))
    await person.wait_for_message(T("What would you like to do?"))


async def test_language_command_during_the_first_greeting_moves_on_to_the_community(emulator):
    person = emulator.user(next_telegram_id(), "先改语言", language_code=None)
    await person.send_text("/start")
    greeting = await person.wait_for_message(has_button("English"))
    await person.send_text("/language")
    await person.wait_for_message(lambda m: "English" in m.buttons and m.text.startswith(T(
        "Please choose your language:")))
    await person.press("English", message_id=person.last_message.message_id)
    await person.wait_for_message(has_button(COMMUNITY_BUTTON[("晨光社区", "en")]))
    # The greeting's own language buttons have done their job and are gone.
    assert next(m for m in person.messages if m.message_id == greeting.message_id).buttons == []


async def test_forged_select_values_and_hidden_buttons_are_refused(emulator, session):
    person = await _at_description_step(emulator)
    step = person.last_message
    intent = callback_data_of(step, T("⬅️ Back")).split("\x1d")[0]
    # "Keep this description" is not shown before a description exists.
    query = await person.press_data(f"{intent}\x1dkeep", message_id=step.message_id)
    answer = await person.wait_for_callback_answer(query)
    assert answer.text == T("Please tell us in a few words what help you need.")
    await person.send_text("需要有人帮忙买菜。")
    await person.wait_for_message(T("If you would like a home visit, you can send your location."))
    assert await requests_of(session, person) == []
