"""Services behind "residents ask the way they talk": phone numbers, media, additions, other / not sure."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from bot.services import notices, requests
from bot.services.errors import InvalidInput, InvalidState, PermissionDenied
from models import AttachmentKind, ContactRelation, EventKind, RequestAttachment, RequestEvent, RequestStatus
from tests.conftest import CLOCK
from tests.test_services import category, draft, last_outbox_id, outbox_since, person, resident_of

VOICE = requests.AttachmentDraft(AttachmentKind.VOICE, "AwAC-voice", "uniq-voice", 14)
PHOTO = requests.AttachmentDraft(AttachmentKind.PHOTO, "AgAC-photo", "uniq-photo")


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("13912345678", "+8613912345678"),
        (" +86 139-1234-5678 ", "+8613912345678"),
        ("8613912345678", "+8613912345678"),
        ("0351 1234567", "+863511234567"),
        ("(0351)7654321", "+863517654321"),
        ("010-12345678", "+861012345678"),
        ("+852 6123 4567", "+85261234567"),  # abroad, with its country code
    ],
)
def test_phone_numbers_as_people_type_them_become_e164(typed, e164):
    assert requests.parse_phone(typed) == e164


@pytest.mark.parametrize("typed", ["", "   ", "abc", "12345", "95588", "1391234567", "4008123123", "1" * 40, None])
def test_numbers_nobody_can_be_called_on_are_refused(typed):
    with pytest.raises(InvalidInput):
        requests.parse_phone(typed)


def test_stored_numbers_read_as_people_write_them():
    assert requests.format_phone("+8613912345678") == "139 1234 5678"
    assert requests.format_phone("+863511234567") == "0351 123 4567"
    assert requests.format_phone("+85261234567") == "+852 6123 4567"


def test_words_are_optional_with_media_but_must_say_something_when_given():
    assert requests.clean_description("", has_media=True) == ""
    with pytest.raises(InvalidInput):
        requests.clean_description("")
    with pytest.raises(InvalidInput) as too_short:
        requests.clean_description("🙏", has_media=True)
    assert too_short.value.params["text"] == "🙏"
    assert requests.combine_description("摔了一跤", "厨房漏水") == "摔了一跤\n厨房漏水"
    assert requests.combine_description("摔了一跤", "摔了一跤") == "摔了一跤"


def test_media_are_summed_up_in_both_languages():
    summary = notices.media_summary([(AttachmentKind.VOICE, 14), (AttachmentKind.VOICE, 50), (AttachmentKind.PHOTO, None)])
    assert summary == {"zh_CN": "语音2条（1:04）、照片1张", "en": "2 voice messages (1:04), 1 photo"}


async def test_a_voice_only_request_with_a_relatives_number(session, world):
    resident = await resident_of(session, world, "晨光社区")
    base = await draft(session, description="")
    filed = await requests.file_request(
        session,
        resident,
        requests.RequestDraft(token=base.token, category_id=base.category_id, description="", phone="+8613900000002",
                              contact_relation=ContactRelation.FAMILY, contact_name="儿子 张伟", attachments=(VOICE,)),
        now=CLOCK.now(),
    )
    request = filed.request
    assert (request.contact_relation, request.contact_name, request.contact_consent_at) == (
        ContactRelation.FAMILY, "儿子 张伟", CLOCK.now())
    assert resident.phone is None  # a relative's number is not the resident's own
    [voice] = (await session.scalars(select(RequestAttachment).where(RequestAttachment.request_id == request.id))).all()
    assert (voice.kind, voice.duration, voice.added_by_id) == (AttachmentKind.VOICE, 14, resident.id)


async def test_a_relatives_number_needs_their_name(session, world):
    resident = await resident_of(session, world, "晨光社区")
    base = await draft(session)
    with pytest.raises(InvalidInput):
        await requests.file_request(
            session, resident,
            requests.RequestDraft(token=base.token, category_id=base.category_id, description=base.description,
                                  phone="+8613900000002", contact_relation=ContactRelation.OTHER),
            now=CLOCK.now(),
        )


async def test_other_or_not_sure_is_offered_in_towns_and_villages(session, world):
    general = await category(session, "other.general")
    for community in ("晨光社区", "柳林村"):
        resident = await resident_of(session, world, community)
        filed = await requests.file_request(
            session, resident,
            requests.RequestDraft(token=str(uuid.uuid4()), category_id=general.id, description="不知道找谁"),
            now=CLOCK.now(),
        )
        assert filed.request.category_id == general.id


async def test_additions_go_on_the_timeline_and_to_whoever_was_told(session, world):
    resident = await resident_of(session, world, "晨光社区")
    filed = await requests.file_request(session, resident, await draft(session), now=CLOCK.now())
    marker = await last_outbox_id(session)
    await requests.add_information(session, resident, filed.request.id, "扶手在楼梯口", (PHOTO,), now=CLOCK.now())
    [notice] = await outbox_since(session, marker)
    assert notice.user_id == world.people["li_jing"].id and notice.params["number"] == filed.request.number
    note = await session.scalar(select(RequestEvent).where(RequestEvent.request_id == filed.request.id,
                                                           RequestEvent.kind == EventKind.NOTE))
    photo = await session.scalar(select(RequestAttachment).where(RequestAttachment.event_id == note.id))
    assert note.note == "扶手在楼梯口" and photo.kind is AttachmentKind.PHOTO

    # The rest of an album joins the first photo's entry quietly.
    marker = await last_outbox_id(session)
    joined = await requests.add_information(session, resident, filed.request.id, None, (PHOTO,),
                                            join_event_id=note.id, now=CLOCK.now())
    assert joined.id == note.id and await outbox_since(session, marker) == []
    photos = (await session.scalars(select(RequestAttachment).where(RequestAttachment.event_id == note.id))).all()
    assert len(photos) == 2


async def test_a_request_holds_a_bounded_number_of_photos_and_recordings(session, world):
    resident = await resident_of(session, world, "晨光社区")
    filed = await requests.file_request(session, resident, await draft(session), now=CLOCK.now())
    for _ in range(requests.REQUEST_ATTACHMENTS_MAX // requests.ATTACHMENTS_MAX):
        await requests.add_information(session, resident, filed.request.id, None,
                                       (PHOTO,) * requests.ATTACHMENTS_MAX, now=CLOCK.now())
    with pytest.raises(InvalidInput) as full:
        await requests.add_information(session, resident, filed.request.id, None, (PHOTO,), now=CLOCK.now())
    assert full.value.params["count"] == requests.REQUEST_ATTACHMENTS_MAX
    await requests.add_information(session, resident, filed.request.id, "words still go", now=CLOCK.now())
    with pytest.raises(InvalidInput):  # more than an album at once is refused before anything is written
        await requests.file_request(session, resident, requests.RequestDraft(
            token="many", category_id=filed.request.category_id, description="", attachments=(PHOTO,) * 11,
        ), now=CLOCK.now())


async def test_only_the_resident_adds_and_only_while_open(session, world):
    resident = await resident_of(session, world, "晨光社区")
    filed = await requests.file_request(session, resident, await draft(session), now=CLOCK.now())
    li_jing = await person(session, world, "li_jing")
    with pytest.raises(PermissionDenied):
        await requests.add_information(session, li_jing, filed.request.id, "我来补充", now=CLOCK.now())
    with pytest.raises(InvalidInput):
        await requests.add_information(session, resident, filed.request.id, "  ", now=CLOCK.now())
    filed.request.status = RequestStatus.CLOSED
    await session.flush()
    with pytest.raises(InvalidState):
        await requests.add_information(session, resident, filed.request.id, "还有一件事", now=CLOCK.now())
