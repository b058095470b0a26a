"""Residents ask the way they talk: voice, photos, typed and relatives' numbers, "not sure".

End to end through the real bot and the emulator, as a resident and the social
worker of 晨光社区 (李静, from the sample world) would.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import AttachmentKind, ContactRelation, EventKind, RequestAttachment, RequestEvent, RequestStatus, User
from tests.conftest import CLOCK
from tests.support import (
    DAILY_CARE,
    ELDERLY,
    T,
    accept_offer,
    callback_data_of,
    has_button,
    onboard,
    requests_of,
    settled,
)

pytestmark = pytest.mark.usefixtures("app")

DESCRIPTION_PROMPT = "Please tell us in a few words what help you need."
LOCATION_PROMPT = "If you would like a home visit, you can send your location."
PHONE_PROMPT = "May the social worker call you? Tap the button to share your phone number."


async def at_description(person, lang: str = "zh_CN", group: str | None = None, service: str | None = None):  # noqa: ANN001, ANN201
    await person.send_text("/new")
    group = group or ELDERLY[lang]
    await person.wait_for_message(has_button(group))
    await person.press(group)
    if service is not None:
        await person.wait_for_message(has_button(service))
        await person.press(service)
    return await person.wait_for_message(T(DESCRIPTION_PROMPT, lang))


async def skip_to_summary(person, lang: str = "zh_CN") -> None:  # noqa: ANN001
    await person.wait_for_message(T(LOCATION_PROMPT, lang))
    await person.tap_reply(T("Skip", lang))
    await person.wait_for_message(T(PHONE_PROMPT, lang))
    await person.tap_reply(T("Skip", lang))
    await person.wait_for_message(has_button(T("✅ Send request", lang)))


async def attachments_of(session, request_id: int) -> list[RequestAttachment]:  # noqa: ANN001
    rows = await session.scalars(
        select(RequestAttachment).where(RequestAttachment.request_id == request_id).order_by(RequestAttachment.id)
    )
    found = list(rows.all())
    await session.commit()
    return found


async def open_announcement(worker, number: str, mark: int):  # noqa: ANN001, ANN201
    """The worker accepts the offered case and gets its card (the resident's details come with acceptance)."""
    return await accept_offer(worker, number, mark)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_voice_message_is_the_description_and_reaches_the_social_workers_card(emulator, session, world, lang):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator, lang=lang, name="王奶奶")
    await at_description(person, lang, service=DAILY_CARE[lang])
    await person.send_voice(12)
    received = await person.wait_for_message(has_button(T("➡️ Continue", lang)))
    media = "语音1条（0:12）" if lang == "zh_CN" else "1 voice message (0:12)"
    assert T("Received: {media}. Send more, type a few words, or tap “➡️ Continue”.", lang, media=media) in received.text
    await person.press(T("➡️ Continue", lang))
    await skip_to_summary(person, lang)
    assert T("Photos and recordings: {media}", lang, media=media) in person.last_message.text

    mark = li_jing.mark()
    await person.press(T("✅ Send request", lang))
    await person.wait_for_message(T("Send /my to see how it is going.", lang))
    [request] = await requests_of(session, person)
    assert request.description == ""
    [voice] = await attachments_of(session, request.id)
    assert voice.kind is AttachmentKind.VOICE and voice.duration == 12 and voice.event_id is None

    # The announcement says a voice message came; the card re-sends it to her.
    notice = await li_jing.wait_for_message(request.number, after=mark, timeout=10)
    assert "[语音1条（0:12）]" in notice.text
    card_mark = li_jing.mark()
    await li_jing.press(T("Open request", "zh_CN"), message_id=notice.message_id)
    card = await li_jing.wait_for_message(T("Timeline:", "zh_CN"), after=card_mark)
    assert T("Photos and recordings: {media}", "zh_CN", media="语音1条（0:12）") in card.text
    resent = await li_jing.wait_for_message(lambda m: m.kind == "voice", after=card_mark)
    assert resent.file is not None and voice.file_id in resent.file.file_ids


async def test_a_photo_with_a_caption_and_a_video_note_make_one_description(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_photo(caption="厨房的水管漏水了")
    await person.wait_for_message(has_button(T("✔️ Keep this description")))
    await person.send_video_note(8)
    shown = await person.wait_for_message(lambda m: "视频消息1条" in m.text)
    assert "照片1张" in shown.text and "厨房的水管漏水了" in shown.text
    await person.press(T("✔️ Keep this description"))
    await skip_to_summary(person)
    mark = li_jing.mark()
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, person)
    assert request.description == "厨房的水管漏水了"
    kinds = [a.kind for a in await attachments_of(session, request.id)]
    assert kinds == [AttachmentKind.PHOTO, AttachmentKind.VIDEO_NOTE]

    card_mark = li_jing.mark()
    await open_announcement(li_jing, request.number, mark)
    await li_jing.wait_for_message(lambda m: m.kind == "video_note", after=card_mark)
    photo = [m for m in li_jing.messages if m.kind == "photo" and m.seq > card_mark]
    assert photo and request.number in photo[0].text


async def test_an_album_updates_one_step_message_instead_of_repeating_it(emulator, session):
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    mark = person.mark()
    for _ in range(3):
        await person.send_photo(media_group_id="album-1")
    await settled(person)
    received = T("Received: {media}. Send more, type a few words, or tap “➡️ Continue”.", media="")[:4]
    shown = [m for m in person.messages if m.seq > mark and received in m.text]
    assert len(shown) == 1 and "照片3张" in shown[0].text  # sent once, then edited


async def test_other_or_not_sure_skips_the_service_step_and_back_returns_to_the_first(emulator, session):
    person = await onboard(emulator)
    step = await at_description(person, group="其他 / 不确定")
    assert T("Step {number} of {total}", number=3, total=5) in step.text
    assert "邻居家的老人" in step.text  # its own example
    await person.press(T("⬅️ Back"))
    await person.wait_for_message(has_button("其他 / 不确定"))
    await person.press("其他 / 不确定")
    await person.wait_for_message(T(DESCRIPTION_PROMPT))
    await person.send_text("不知道找谁，楼道里的灯坏了很久。")
    await skip_to_summary(person)
    assert "其他需求（由社工站分派）" in person.last_message.text
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, person)
    assert request.status is RequestStatus.OFFERED


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_the_example_fits_the_chosen_service(emulator, lang):
    person = await onboard(emulator, lang=lang)
    children = "未成年人" if lang == "zh_CN" else "Children and teenagers"
    after_school = "课后看护与学习辅导" if lang == "zh_CN" else "After-school care and homework help"
    step = await at_description(person, lang, group=children, service=after_school)
    assert ("孩子放学后" if lang == "zh_CN" else "after school") in step.text
    assert ("摔了一跤" if lang == "zh_CN" else "fell") not in step.text


@pytest.mark.parametrize(
    ("typed", "stored", "shown"),
    [
        ("13912345678", "+8613912345678", "139 1234 5678"),
        ("+86 139 1234 5678", "+8613912345678", "139 1234 5678"),
        ("0351 1234567", "+863511234567", "0351 123 4567"),
        ("(0351)7654321", "+863517654321", "0351 765 4321"),
        ("010-12345678", "+861012345678", "010 1234 5678"),
    ],
    ids=["mobile", "mobile-with-86-and-spaces", "landline-area-code", "landline-brackets", "beijing-landline"],
)
async def test_a_typed_number_is_understood_and_kept_as_e164(emulator, session, typed, stored, shown):
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_text("需要有人帮忙买菜。")
    await person.wait_for_message(T(LOCATION_PROMPT))
    await person.tap_reply(T("Skip"))
    await person.wait_for_message(T(PHONE_PROMPT))
    await person.send_text(typed)
    await person.wait_for_message(T("Whose number is {phone}?", phone=shown))
    await person.press(T("👤 Mine"))
    summary = await person.wait_for_message(has_button(T("✅ Send request")))
    assert T("{phone} (mine)", phone=shown) in summary.text
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, person)
    assert request.contact_phone == stored and request.contact_relation is ContactRelation.SELF
    assert request.contact_consent_at is not None


async def test_a_daughters_number_with_her_name_is_kept_apart_from_the_residents_own(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_text("我妈妈需要有人陪她去医院。")
    await person.wait_for_message(T(LOCATION_PROMPT))
    await person.tap_reply(T("Skip"))
    await person.wait_for_message(T(PHONE_PROMPT))
    await person.send_text("139 0000 0002")
    await person.wait_for_message(T("Whose number is {phone}?", phone="139 0000 0002"))
    await person.press(T("👪 A family member's"))
    await person.wait_for_message(T("What is the name of the person we may call on {phone}?", phone="139 0000 0002"))
    await person.send_text("   ")
    await person.wait_for_message(T("Please type the name of the person we may call, for example “女儿 王芳”."))
    await person.send_text("女儿 王芳")
    summary = await person.wait_for_message(has_button(T("✅ Send request")))
    assert T("{phone} (family member: {name})", phone="139 0000 0002", name="女儿 王芳") in summary.text
    mark = li_jing.mark()
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, person)
    assert (request.contact_phone, request.contact_relation, request.contact_name) == (
        "+8613900000002", ContactRelation.FAMILY, "女儿 王芳")
    resident = await session.get(User, request.resident_id)
    assert resident.phone is None  # her own number was not given
    await session.commit()
    card = await open_announcement(li_jing, request.number, mark)
    assert T("{phone} (family member: {name})", "zh_CN", phone="139 0000 0002", name="女儿 王芳") in card.text


async def test_a_contact_card_from_the_phone_book_asks_only_whose_it_is(emulator, session):
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_text("需要有人帮忙买菜。")
    await person.wait_for_message(T(LOCATION_PROMPT))
    await person.tap_reply(T("Skip"))
    await person.wait_for_message(T(PHONE_PROMPT))
    await person.share_contact("8613700000000", user_id=0, first_name="王芳")
    await person.wait_for_message(T("Whose number is {phone}?", phone="137 0000 0000"))
    await person.press(T("👪 A family member's"))
    summary = await person.wait_for_message(has_button(T("✅ Send request")))
    assert T("{phone} (family member: {name})", phone="137 0000 0000", name="王芳") in summary.text


async def test_a_resident_adds_a_photo_to_an_open_request_from_its_card(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_text("家里的扶手松了，想请人来看看。")
    await skip_to_summary(person)
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, person)

    await person.send_text("/my")
    await person.wait_for_message(lambda m: any(request.number in b for b in m.buttons))
    await person.press(request.number)
    await person.wait_for_message(has_button(T("➕ Add information or photos")))
    await person.press(T("➕ Add information or photos"))
    await person.wait_for_message(T("Send words, a voice message or photos to add to request {number}.",
                                    number=request.number))
    mark = li_jing.mark()
    await person.send_photo(caption="扶手在楼梯口")
    await person.wait_for_message(T("✅ Added to request {number}: {last}.", number=request.number, last="照片1张"))
    notice = await li_jing.wait_for_message(T("➕ The resident added to request {number}:\n“{description}”", "zh_CN",
                                              number=request.number, description="扶手在楼梯口 [照片1张]"),
                                            after=mark, timeout=10)
    await person.press(T("✔️ Done"))
    await person.wait_for_message(has_button(T("🙋 Ask for help")))

    events = (await session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id))).all()
    await session.commit()
    note = [e for e in events if e.kind is EventKind.NOTE]
    assert len(note) == 1 and note[0].note == "扶手在楼梯口"
    [photo] = await attachments_of(session, request.id)
    assert photo.event_id == note[0].id

    card_mark = li_jing.mark()
    await li_jing.press(T("Open request", "zh_CN"), message_id=notice.message_id)
    card = await li_jing.wait_for_message(T("Timeline:", "zh_CN"), after=card_mark)
    assert T("the resident added: {what}", "zh_CN", what="“扶手在楼梯口” [照片1张]") in card.text
    await li_jing.wait_for_message(lambda m: m.kind == "photo", after=card_mark)


async def test_only_the_resident_can_add_to_their_request(emulator, session, world):
    owner = await onboard(emulator)
    await at_description(owner, service=DAILY_CARE["zh_CN"])
    await owner.send_text("需要有人帮忙买菜。")
    await skip_to_summary(owner)
    await owner.press(T("✅ Send request"))
    await owner.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, owner)
    await owner.send_text("/my")
    await owner.wait_for_message(lambda m: any(request.number in b for b in m.buttons))
    await owner.press(request.number)
    card = await owner.wait_for_message(has_button(T("➕ Add information or photos")))
    forged = next(b["callback_data"] for row in card.reply_markup["inline_keyboard"] for b in row
                  if b["text"] == T("➕ Add information or photos"))

    stranger = await onboard(emulator, name="陌生人")
    await stranger.send_text("/my")
    menu = await stranger.wait_for_message(T("You have not asked for help yet. Tap the button below when you need it."))
    await stranger.press_data(forged, message_id=menu.message_id)
    await settled(stranger)
    answer = stranger.callback_answers[-1]
    assert answer.show_alert and answer.text == T("This request is not yours to open.")
    assert not [e for e in (await session.scalars(select(RequestEvent).where(
        RequestEvent.request_id == request.id, RequestEvent.kind == EventKind.NOTE))).all()]
    await session.commit()


async def filed_request_of(emulator, session, description: str = "家里的扶手松了。"):  # noqa: ANN001, ANN201
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_text(description)
    await skip_to_summary(person)
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, person)
    return person, request


async def open_add_mode(person, request) -> None:  # noqa: ANN001
    await person.send_text("/my")
    await person.wait_for_message(lambda m: any(request.number in b for b in m.buttons))
    await person.press(request.number)
    await person.wait_for_message(has_button(T("➕ Add information or photos")))
    await person.press(T("➕ Add information or photos"))
    await person.wait_for_message(T("Send words, a voice message or photos to add to request {number}.",
                                    number=request.number))


async def test_a_photo_added_with_a_caption_that_says_nothing_is_kept(emulator, session, world):
    person, request = await filed_request_of(emulator, session)
    await open_add_mode(person, request)
    await person.send_photo(caption="👍")
    await person.wait_for_message(T("“{text}” is too short for the social worker to understand. Please say who needs "
                                    "help and with what, for example “my mother needs help to see a doctor”, or send "
                                    "a voice message.", text="👍"))
    await settled(person)
    [photo] = await attachments_of(session, request.id)
    assert photo.kind is AttachmentKind.PHOTO and photo.event_id is not None


async def test_an_album_added_later_is_one_timeline_entry_and_one_notice(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person, request = await filed_request_of(emulator, session)
    await open_add_mode(person, request)
    mark = li_jing.mark()
    for _ in range(3):
        await person.send_photo(media_group_id="later-album")
    await settled(person)
    added = await attachments_of(session, request.id)
    assert len(added) == 3 and len({a.event_id for a in added}) == 1
    await li_jing.wait_for_message(has_button(T("Open request", "zh_CN")), after=mark, timeout=10)
    await emulator.settle()
    notices = [m for m in li_jing.messages if m.seq > mark and request.number in m.text]
    assert len(notices) == 1

    # The card shows the three photos as one album.
    card_mark = li_jing.mark()
    await li_jing.press(T("Open request", "zh_CN"), message_id=notices[0].message_id)
    await li_jing.wait_for_message(T("Timeline:", "zh_CN"), after=card_mark)
    await settled(li_jing)
    album = [m for m in li_jing.messages if m.seq > card_mark and m.kind == "photo"]
    assert len(album) == 3 and len({m.media_group_id for m in album}) == 1 and album[0].media_group_id


async def test_opening_ones_requests_ends_adding_and_so_does_an_hour_of_silence(emulator, session, world):
    person, request = await filed_request_of(emulator, session)
    await open_add_mode(person, request)
    await person.send_text("/my")  # back to the list: add mode is over
    await person.wait_for_message(lambda m: any(request.number in b for b in m.buttons))
    await person.send_text("这句话不是补充")
    await person.wait_for_message(T("What would you like to do?"))

    await open_add_mode(person, request)
    await person.send_text("楼梯口的扶手")
    await person.wait_for_message(T("✅ Added to request {number}: {last}.", number=request.number,
                                    last=T("your words")))
    CLOCK.advance(timedelta(hours=2))
    await person.send_text("明天我去菜市场")
    ended = await person.wait_for_message(has_button(T("🙋 Ask for help")))
    assert request.number in ended.text
    await settled(person)
    notes = (await session.scalars(select(RequestEvent.note).where(
        RequestEvent.request_id == request.id, RequestEvent.kind == EventKind.NOTE))).all()
    await session.commit()
    assert notes == ["楼梯口的扶手"]


async def test_a_card_that_cannot_show_a_recording_still_shows_the_rest(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_voice(9)
    await person.wait_for_message(has_button(T("➡️ Continue")))
    await person.send_photo()
    await person.wait_for_message(lambda m: "照片1张" in m.text)
    await person.press(T("➡️ Continue"))
    await skip_to_summary(person)
    mark = li_jing.mark()
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [request] = await requests_of(session, person)
    notice = await li_jing.wait_for_message(request.number, after=mark, timeout=10)
    emulator.inject_error("sendVoice", error_code=400, description="Bad Request: VOICE_MESSAGES_FORBIDDEN")
    card_mark = li_jing.mark()
    await li_jing.press(T("Open request", "zh_CN"), message_id=notice.message_id)
    await li_jing.wait_for_message(T("(A recording of request {number} could not be shown.)", "zh_CN",
                                     number=request.number), after=card_mark)
    assert [m for m in li_jing.messages if m.seq > card_mark and m.kind == "photo"]


async def test_a_contact_card_without_a_usable_name_asks_for_one(emulator, session):
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_text("需要有人帮忙买菜。")
    await person.wait_for_message(T(LOCATION_PROMPT))
    await person.tap_reply(T("Skip"))
    await person.wait_for_message(T(PHONE_PROMPT))
    await person.share_contact("8613700000000", user_id=0, first_name="❤️")
    await person.wait_for_message(T("Whose number is {phone}?", phone="137 0000 0000"))
    await person.press(T("👪 A family member's"))
    await person.wait_for_message(T("What is the name of the person we may call on {phone}?", phone="137 0000 0000"))


async def test_a_forged_owner_choice_is_refused(emulator):
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_text("需要有人帮忙买菜。")
    await person.wait_for_message(T(LOCATION_PROMPT))
    await person.tap_reply(T("Skip"))
    await person.wait_for_message(T(PHONE_PROMPT))
    await person.send_text("13912345678")
    step = await person.wait_for_message(has_button(T("👤 Mine")))
    forged = callback_data_of(step, T("👤 Mine")).replace("self", "boss")
    await person.press_data(forged, message_id=step.message_id)
    await settled(person)
    assert person.callback_answers[-1].text == T("This choice is not available in your community. Please choose again.")
    await person.press(T("👤 Mine"))  # the step still works
    await person.wait_for_message(has_button(T("✅ Send request")))


async def test_words_typed_after_a_captioned_photo_add_to_the_caption(emulator, session):
    person = await onboard(emulator)
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_photo(caption="厨房的水管漏水了")
    await person.wait_for_message(has_button(T("✔️ Keep this description")))
    await person.send_text("请尽快来看看")
    await skip_to_summary(person)
    assert "厨房的水管漏水了\n请尽快来看看" in person.last_message.text

    # Back to the description and typed anew: a plain description is replaced, as the step says.
    await person.press(T("✖️ Cancel"))
    await at_description(person, service=DAILY_CARE["zh_CN"])
    await person.send_text("第一次写的")
    await person.wait_for_message(T(LOCATION_PROMPT))
    await person.tap_reply(T("⬅️ Back"))
    await person.wait_for_message(has_button(T("✔️ Keep this description")))
    await person.send_text("重新写的描述")
    await skip_to_summary(person)
    assert "重新写的描述" in person.last_message.text and "第一次写的" not in person.last_message.text
