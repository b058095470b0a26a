"""Residents file service requests end to end, through the real bot and the emulator."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import ContactRelation, EventKind, OutboxStatus, OutgoingMessage, RequestEvent, RequestStatus
from tests.conftest import CLOCK, next_telegram_id
from tests.support import (
    COMMUNITY_BUTTON,
    LANGUAGE_BUTTON,
    T,
    fill_request,
    has_button,
    onboard,
    requests_of,
    settled,
    user_row,
)

pytestmark = pytest.mark.usefixtures("app")

NUMBER = re.compile(r"\d{4}-\d{6}")


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_newcomer_greets_picks_language_and_community(emulator, session, lang):
    person = emulator.user(next_telegram_id(), "新居民", language_code=None)
    await person.send_text("/start")
    greeting = await person.wait_for_message(has_button(LANGUAGE_BUTTON[lang]))
    # Before a language is chosen the greeting speaks both.
    assert "您好" in greeting.text and "Hello" in greeting.text

    await person.press(LANGUAGE_BUTTON[lang])
    picker = await person.wait_for_message(has_button(COMMUNITY_BUTTON[("桃园社区", lang)]))
    assert T("Tap it below, or type its name to search.", lang) in picker.text

    await person.press(COMMUNITY_BUTTON[("桃园社区", lang)])
    done = await person.wait_for_message(T("What would you like to do?", lang))
    assert T("🙋 Ask for help", lang) in done.buttons
    row = await user_row(session, person)
    assert row.locale == lang and row.community.name == "桃园社区"


async def test_the_community_list_leads_back_to_the_choice_of_language(emulator, session):
    person = emulator.user(next_telegram_id(), "回头看", language_code=None)
    await person.send_text("/start")
    await person.wait_for_message(has_button("English"))
    await person.press("English")
    await person.wait_for_message(has_button(COMMUNITY_BUTTON[("晨光社区", "en")]))
    await person.press(T("⬅️ Back", "en"))
    await person.wait_for_message(has_button("中文"))
    await person.press("中文")
    await person.wait_for_message(has_button(COMMUNITY_BUTTON[("晨光社区", "zh_CN")]))
    await person.press(COMMUNITY_BUTTON[("晨光社区", "zh_CN")])
    await person.wait_for_message(T("What would you like to do?"))
    assert (await user_row(session, person)).locale == "zh_CN"


@pytest.mark.parametrize(("lang", "query", "expected"), [("zh_CN", "柳林", "柳林村"), ("en", "taoyuan", "桃园社区")])
async def test_a_resident_finds_their_community_by_typing_its_name(emulator, session, lang, query, expected):
    person = emulator.user(next_telegram_id(), "搜索者", language_code=None)
    await person.send_text("/start")
    await person.wait_for_message(has_button(LANGUAGE_BUTTON[lang]))
    await person.press(LANGUAGE_BUTTON[lang])
    await person.wait_for_message(has_button(COMMUNITY_BUTTON[("晨光社区", lang)]))
    await person.send_text(query)
    matches = await person.wait_for_message(has_button(COMMUNITY_BUTTON[(expected, lang)]))
    assert COMMUNITY_BUTTON[("晨光社区", lang)] not in matches.buttons
    await person.press(COMMUNITY_BUTTON[(expected, lang)])
    await person.wait_for_message(T("What would you like to do?", lang))
    assert (await user_row(session, person)).community.name == expected


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_resident_files_a_request_and_the_communitys_social_worker_is_told(emulator, session, world, lang):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator, lang=lang, name="王秀兰")
    person.phone = "+8613900000001"
    group = "老年人" if lang == "zh_CN" else "Older people"
    service = "生活照料（买菜、陪同就医等）" if lang == "zh_CN" else "Daily help (shopping, hospital visits…)"
    description = "上周摔了一跤，想请人帮忙买菜、陪我去医院复查。" if lang == "zh_CN" else "I fell last week; please help me shop."
    await fill_request(person, lang=lang, group=group, service=service, description=description, location=True, phone=True)

    summary = person.last_message
    assert T("Please check your request:", lang) in summary.text
    assert description in summary.text and service in summary.text
    assert T("{phone} (mine)", lang, phone="139 0000 0001") in summary.text

    worker_mark = li_jing.mark()
    await person.press(T("✅ Send request", lang))
    receipt = await person.wait_for_message(T("Send /my to see how it is going.", lang))
    number = NUMBER.search(receipt.text).group(0)
    assert ("1天" if lang == "zh_CN" else "within 1 day") in receipt.text

    # The social worker of 晨光社区 is offered the case right away, in her own language (zh_CN).
    offer = await li_jing.wait_for_message(number, after=worker_mark, timeout=10)
    assert "晨光社区" in offer.text and description in offer.text
    assert "王秀兰" not in offer.text, "the resident's name waits for acceptance"
    assert {T("✅ Accept", "zh_CN"), T("↩️ Decline", "zh_CN"), T("Open request", "zh_CN")} <= set(offer.buttons)

    # Before accepting, the card shows the case but not the resident's phone or location.
    card_mark = li_jing.mark()
    await li_jing.press(T("Open request", "zh_CN"), message_id=offer.message_id)
    card = await li_jing.wait_for_message(T("Timeline:", "zh_CN"), after=card_mark)
    assert number in card.text and "139 0000 0001" not in card.text
    assert T("Resident: shown to the social worker who accepts the case.", "zh_CN") in card.text

    # She accepts: the offer loses its buttons, the card now shows the consented phone and the location.
    resident_mark = person.mark()
    accept_mark = li_jing.mark()
    await li_jing.press(T("✅ Accept", "zh_CN"), message_id=offer.message_id)
    card = await li_jing.wait_for_message(T("Timeline:", "zh_CN"), after=accept_mark)
    assert number in card.text and T("{phone} (mine)", "zh_CN", phone="139 0000 0001") in card.text
    assert "王秀兰" in card.text
    location = await li_jing.wait_for_message(lambda m: m.kind == "location", after=accept_mark)
    assert location.latitude == pytest.approx(37.87)
    assert not li_jing.message(offer.message_id).buttons

    # The resident hears who has her request, in her language.
    told = await person.wait_for_message(number, after=resident_mark, timeout=10)
    station = T("Social work station: {phone}", lang, phone="0351 401 2345")  # 晨光's station, from the sample
    assert T("✅ Your request {number} has been accepted by social worker {name}. They will contact you soon.\n{station}",
             lang, number=number, name="李静", station=station) == told.text

    [request] = await requests_of(session, person)
    assert request.number == number and request.status is RequestStatus.ACCEPTED
    assert request.assigned_worker_id == world.people["li_jing"].id
    assert request.contact_phone == "+8613900000001" and request.latitude == pytest.approx(37.87)
    assert request.contact_relation is ContactRelation.SELF and request.contact_consent_at is not None
    kinds = [e.kind for e in (await session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id)
                                                    .order_by(RequestEvent.id))).all()]
    assert kinds == [EventKind.CREATED, EventKind.ROUTED, EventKind.STATUS_CHANGED, EventKind.OFFERED,
                     EventKind.STATUS_CHANGED]
    sent = (await session.scalars(select(OutgoingMessage).where(OutgoingMessage.params["number"].as_string() == number))).all()
    assert sent and all(m.status is OutboxStatus.SENT for m in sent)


async def test_a_rural_village_offers_its_own_services(emulator):
    person = await onboard(emulator, community="柳林村", name="马奶奶")
    await person.send_text("/new")
    menu = await person.wait_for_message(has_button("留守儿童"))
    assert "外来务工人员" not in menu.buttons  # an urban-only target group
    await person.press("留守儿童")
    services = await person.wait_for_message(has_button("学习辅导"))
    assert T("⬅️ Back") in services.buttons and T("✖️ Cancel") in services.buttons


async def test_skipping_location_and_phone_files_a_request_without_them(emulator, session):
    person = await onboard(emulator, lang="en")
    await fill_request(person, lang="en", group="Older people", service="Someone to talk to",
                       description="I feel lonely since my husband died.")
    summary = person.last_message
    assert summary.text.count(T("not given", "en")) == 2
    await person.press(T("✅ Send request", "en"))
    await person.wait_for_message(T("Send /my to see how it is going.", "en"))
    [request] = await requests_of(session, person)
    assert request.contact_phone is None and request.latitude is None


async def test_every_step_has_a_way_back(emulator, session):
    person = await onboard(emulator)
    await person.send_text("/new")
    first = await person.wait_for_message(has_button("老年人"))
    assert T("⬅️ Back") in first.buttons and T("✖️ Cancel") in first.buttons
    await person.press(T("⬅️ Back"))  # step 1 -> the main menu, edited in place
    menu = await person.wait_for_message(T("What would you like to do?"))
    assert menu.message_id == first.message_id and T("🙋 Ask for help") in menu.buttons
    await person.press(T("🙋 Ask for help"))
    await person.wait_for_message(has_button("老年人"))
    await person.press("老年人")
    await person.wait_for_message(has_button(T("⬅️ Back")))
    await person.press(T("⬅️ Back"))  # services -> target groups, edited in place
    await person.wait_for_message(has_button("老年人"))
    await person.press("老年人")
    await person.wait_for_message(has_button("心理疏导、谈心"))
    await person.press("心理疏导、谈心")
    await person.wait_for_message(T("Please tell us in a few words what help you need."))
    await person.press(T("⬅️ Back"))  # description -> services (inline buttons under the question)
    await person.wait_for_message(has_button("心理疏导、谈心"))
    await person.press("心理疏导、谈心")
    await person.wait_for_message(T("Please tell us in a few words what help you need."))
    await person.send_text("想找人聊聊天。")
    await person.wait_for_message(T("If you would like a home visit, you can send your location."))
    await person.tap_reply(T("⬅️ Back"))  # location -> description: what was typed is kept
    kept = await person.wait_for_message(has_button(T("✔️ Keep this description")))
    assert "想找人聊聊天。" in kept.text
    await person.press(T("✔️ Keep this description"))
    await person.wait_for_message(T("If you would like a home visit, you can send your location."))
    await person.tap_reply(T("⬅️ Back"))
    await person.wait_for_message(has_button(T("✔️ Keep this description")))
    await person.send_text("想找人聊聊天，最近睡不好。")  # or typed anew
    await person.wait_for_message(T("If you would like a home visit, you can send your location."))
    await person.tap_reply(T("Skip"))
    await person.wait_for_message(T("May the social worker call you? Tap the button to share your phone number."))
    await person.tap_reply(T("⬅️ Back"))  # phone -> location
    await person.wait_for_message(T("If you would like a home visit, you can send your location."))
    await person.tap_reply(T("Skip"))
    await person.wait_for_message(T("May the social worker call you? Tap the button to share your phone number."))
    await person.tap_reply(T("Skip"))
    await person.wait_for_message(has_button(T("✅ Send request")))
    await person.press(T("⬅️ Back"))  # summary -> phone
    await person.wait_for_message(T("May the social worker call you? Tap the button to share your phone number."))
    await person.tap_reply(T("Skip"))
    summary = await person.wait_for_message(has_button(T("✅ Send request")))
    assert "想找人聊聊天，最近睡不好。" in summary.text  # the latest description, nothing lost
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, person)
    assert request.description == "想找人聊聊天，最近睡不好。" and request.category.code == "elderly.counselling"


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_my_requests_show_status_timeline_and_allow_cancelling(emulator, session, world, lang):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator, lang=lang)
    group = "老年人" if lang == "zh_CN" else "Older people"
    service = "康复训练" if lang == "zh_CN" else "Rehabilitation"
    await fill_request(person, lang=lang, group=group, service=service, description="腿伤后需要康复训练指导。")
    await person.press(T("✅ Send request", lang))
    receipt = await person.wait_for_message(T("Send /my to see how it is going.", lang))
    number = NUMBER.search(receipt.text).group(0)

    await person.send_text("/my")
    listing = await person.wait_for_message(lambda m: any(number in b for b in m.buttons))
    label = next(b for b in listing.buttons if number in b)
    assert T("waiting for a social worker", lang) in label  # offered to 李静, not yet accepted
    await person.press(label)
    card = await person.wait_for_message(T("Timeline:", lang))
    assert T("request filed", lang) in card.text
    assert "李静" not in card.text, "whom it was offered to is for staff; the resident hears it on acceptance"

    worker_mark = li_jing.mark()
    await person.press(T("Cancel this request", lang))
    await person.wait_for_message(has_button(T("Yes, cancel it", lang)))
    await person.press(T("Yes, cancel it", lang))
    await person.wait_for_message(T("Request {number} is cancelled. Send /new whenever you need help again.", lang, number=number))
    await li_jing.wait_for_message(T("Request {number} was cancelled by the resident.", "zh_CN", number=number),
                                   after=worker_mark, timeout=10)
    [request] = await requests_of(session, person)
    assert request.status is RequestStatus.CANCELLED

    # Opening it again shows the cancellation in the timeline and no cancel button.
    await person.press(T("⬅️ Back to my requests", lang))
    listing = await person.wait_for_message(lambda m: any(number in b for b in m.buttons))
    await person.press(next(b for b in listing.buttons if number in b))
    card = await person.wait_for_message(T("cancelled by the resident", lang))
    assert T("Cancel this request", lang) not in card.buttons


async def test_keeping_a_request_after_all(emulator, session):
    person = await onboard(emulator)
    await fill_request(person)
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    await person.send_text("/my")
    listing = await person.wait_for_message(lambda m: len(m.buttons) > 1)
    await person.press(listing.buttons[0])
    await person.wait_for_message(has_button(T("Cancel this request")))
    await person.press(T("Cancel this request"))
    await person.wait_for_message(has_button(T("No, keep it")))
    await person.press(T("No, keep it"))
    await person.wait_for_message(has_button(T("Cancel this request")))
    [request] = await requests_of(session, person)
    assert request.status is RequestStatus.OFFERED


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_language_can_be_switched_and_is_remembered(emulator, session, lang):
    other = "en" if lang == "zh_CN" else "zh_CN"
    person = await onboard(emulator, lang=lang)
    await person.send_text("/language")
    await person.wait_for_message(has_button(LANGUAGE_BUTTON[other]))
    await person.press(LANGUAGE_BUTTON[other])
    await person.wait_for_message(T("Done: I will talk with you in English.", other))
    await person.send_text("/help")
    helped = await person.wait_for_message(T("Here is what I can do:", other))
    assert T("/new — ask for help", other) in helped.text
    assert (await user_row(session, person)).locale == other


async def test_help_cancel_and_the_command_menu(emulator):
    person = await onboard(emulator)
    await person.send_text("/cancel")
    await person.wait_for_message(T("There is nothing to cancel."))
    await person.send_text("/new")
    await person.wait_for_message(has_button("老年人"))
    await person.send_text("/cancel")
    await person.wait_for_message(T("Cancelled."))
    # The command menu is set in both languages.
    zh = {c["command"]: c["description"] for c in emulator.commands(language_code=None)}
    en = {c["command"]: c["description"] for c in emulator.commands(language_code="en")}
    assert zh["new"] == "我要求助" and en["new"] == "Ask for help"
    assert set(zh) == set(en) >= {"start", "new", "my", "help", "language", "cancel"}


async def test_a_long_history_is_paged(emulator, session, world):
    from bot.services import requests as request_service
    from bot.services.catalogue import services_for

    person = await onboard(emulator)
    resident = await user_row(session, person)
    [care, *_] = await services_for(session, resident.community, "elderly")
    for n in range(8):
        await request_service.file_request(
            session, resident, request_service.RequestDraft(token=f"bulk-{person.id}-{n}", category_id=care.id,
                                                            description=f"第{n + 1}次求助：帮忙买菜。"), now=CLOCK.now())
    await session.commit()
    numbers = [r.number for r in await requests_of(session, person)]

    await person.send_text("/my")
    first = await person.wait_for_message(lambda m: any(numbers[-1] in b for b in m.buttons))
    assert not any(numbers[0] in b for b in first.buttons)  # the oldest is on the next page
    assert T("Your requests, newest first (page {page} of {pages}). Tap one to see how it is going:",
             page=1, pages=2) in first.text
    await person.press(T("Next ▶️"))
    second = await person.wait_for_message(lambda m: any(numbers[0] in b for b in m.buttons))
    assert second.message_id == first.message_id  # edited in place
    await person.press(next(b for b in second.buttons if numbers[0] in b))
    card = await person.wait_for_message(T("Timeline:"))
    assert "第1次求助" in card.text


async def test_the_chosen_language_also_sets_the_chats_command_menu(emulator):
    person = await onboard(emulator, lang="en")
    menu = {c["command"]: c["description"] for c in emulator.commands(scope_type="chat", chat_id=person.id)}
    assert menu["new"] == "Ask for help"
    await person.send_text("/language")
    await person.wait_for_message(has_button("中文"))
    await person.press("中文")
    await person.wait_for_message(T("Done: I will talk with you in English."))
    await settled(person)
    menu = {c["command"]: c["description"] for c in emulator.commands(scope_type="chat", chat_id=person.id)}
    assert menu["new"] == "我要求助" and menu["cancel"] == "取消当前操作"
