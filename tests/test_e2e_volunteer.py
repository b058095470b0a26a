"""Volunteer registration end to end: /volunteer, every step checked where it is typed, the
community's social worker approves (a volunteer number) or says why not."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from handlers.callbacks import VolunteerCB
from models import Role, User, Volunteer, VolunteerAvailability, VolunteerStatus
from tests.support import T, has_button, onboard, settled, user_row
from tests.test_services_volunteers import VALID_ID, with_check_digit

pytestmark = pytest.mark.usefixtures("app")

MINOR_ID = with_check_digit("14010520120505002")


async def volunteer_row(session, person) -> Volunteer | None:  # noqa: ANN001
    await settled(person)
    session.expire_all()
    user = await session.scalar(select(User).where(User.telegram_id == person.id))
    row = await session.get(Volunteer, user.id) if user else None
    await session.commit()
    return row


async def answer(person, text: str, expect: str, lang: str) -> None:  # noqa: ANN001
    await person.send_text(text)
    await person.wait_for_message(T(expect, lang) if "{" not in expect else expect)


async def register_until_summary(person, lang: str, *, born: str = "1990-03-07", id_number: str = VALID_ID,  # noqa: ANN001
                                 guardian: bool = False) -> None:
    await person.send_text("/volunteer")
    await person.wait_for_message(T("What is your real name, as on your ID?", lang))
    await person.send_text("张伟")
    await person.wait_for_message(has_button(T("Male", lang)))
    await person.press(T("Male", lang))
    await person.wait_for_message(T("Your date of birth? Type it like 1990-03-07.", lang))
    await person.send_text(born)
    await person.wait_for_message(has_button(T("Resident ID card (居民身份证)", lang)))
    await person.press(T("Resident ID card (居民身份证)", lang))
    await person.wait_for_message(T("Only its last four characters are kept; the rest is checked and then masked.",
                                    lang))
    await person.send_text(id_number)
    await person.wait_for_message(T("Your phone number, for the social worker who arranges your tasks? For example "
                                    "13912345678.", lang))
    await person.send_text("139 1234 5678")
    if guardian:
        await person.wait_for_message(T("You are under 16: a parent or guardian must agree. What is their name?",
                                        lang))
        await person.send_text("张大伟")
        await person.wait_for_message(T("And their phone number?", lang))
        await person.send_text("13800000000")
    await person.wait_for_message(has_button("▫️ " + T("Shopping and errands", lang)))
    await person.press("▫️ " + T("Shopping and errands", lang))
    await person.wait_for_message(has_button("✅ " + T("Shopping and errands", lang)))
    await person.press(T("Next ➡️", lang))
    services = await person.wait_for_message(T("Which services in {community} would you like to help with? Tap all "
                                               "that fit.", lang, community=T("晨光社区") if lang == "zh_CN"
                                               else "Chenguang Community"))
    first_service = next(b for b in services.buttons if b.startswith("▫️ "))
    await person.press(first_service)
    await person.wait_for_message(has_button("✅ " + first_service[3:]))
    await person.press(T("Next ➡️", lang))
    await person.wait_for_message(has_button("▫️ " + T("Sat", lang)))
    await person.press("▫️ " + T("Sat", lang))
    await person.wait_for_message(has_button("✅ " + T("Sat", lang)))
    await person.press("▫️ " + T("Mornings 8–12", lang))
    await person.wait_for_message(has_button("✅ " + T("Mornings 8–12", lang)))
    await person.press(T("Next ➡️", lang))
    await person.wait_for_message(T("Please check your registration:", lang))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_resident_registers_every_mistake_is_explained_and_the_social_worker_approves(
    emulator, session, world, lang
):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator, lang=lang, name="张伟")

    # Mistakes at their steps, each explained; the flow goes on once fixed.
    await person.send_text("/volunteer")
    await person.wait_for_message(T("What is your real name, as on your ID?", lang))
    await person.send_text("张伟")
    await person.wait_for_message(has_button(T("Male", lang)))
    await person.press(T("Male", lang))
    await person.wait_for_message(T("Your date of birth? Type it like 1990-03-07.", lang))
    await person.send_text("2090-01-01")
    await person.wait_for_message(T("The date of birth is in the future. Please choose it again.", lang))
    await person.send_text("1990-02-30")
    await person.wait_for_message(T("{text} is not a real date. Please type it like 1990-03-07.", lang,
                                    text="1990-02-30"))
    await person.send_text("1990年3月7日")
    await person.wait_for_message(has_button(T("Resident ID card (居民身份证)", lang)))
    await person.press(T("Resident ID card (居民身份证)", lang))
    await person.wait_for_message(T("Please type the number of your {document}.", lang,
                                    document=T("Resident ID card (居民身份证)", lang)))
    await person.send_text(VALID_ID[:17] + ("1" if VALID_ID[17] != "1" else "2"))
    await person.wait_for_message(T("This resident ID number's last character does not match the others: one of "
                                    "them is probably mistyped. Please check it.", lang))
    await person.send_text(with_check_digit("14010519900308008"))
    await person.wait_for_message(T("The date of birth in this ID number ({born}) is not the one you gave "
                                    "({given}). Please check both.", lang, born="1990-03-08", given="1990-03-07"))
    await person.send_text(VALID_ID.lower())
    await person.wait_for_message(T("Your phone number, for the social worker who arranges your tasks? For example "
                                    "13912345678.", lang))
    await person.send_text("12345")
    await person.wait_for_message(T("{text} is not a phone number that can be called. Please check it: a mobile "
                                    "number has 11 digits (13912345678); a landline needs its area code "
                                    "(0351-1234567).", lang, text="12345"))
    await person.send_text("139 1234 5678")
    await person.wait_for_message(has_button("▫️ " + T("Shopping and errands", lang)))
    await person.press("▫️ " + T("Driving", lang))
    await person.wait_for_message(has_button("✅ " + T("Driving", lang)))
    await person.send_text("会修自行车")
    await person.wait_for_message(T("Your own words: {skills_other}", lang, skills_other="会修自行车"))
    await person.press(T("Next ➡️", lang))
    services = await person.wait_for_message(lambda m: any(b.startswith("▫️ ") for b in m.buttons))
    await person.press(next(b for b in services.buttons if b.startswith("▫️ ")))
    await person.wait_for_message(lambda m: any(b.startswith("✅ ") for b in m.buttons))
    await person.press(T("Next ➡️", lang))
    await person.wait_for_message(has_button("▫️ " + T("Sat", lang)))
    query = await person.press(T("Next ➡️", lang))
    refused = await person.wait_for_callback_answer(query)
    assert refused.text == T("Please choose at least one day and one time of day.", lang)
    await person.press("▫️ " + T("Sat", lang))
    await person.wait_for_message(has_button("✅ " + T("Sat", lang)))
    await person.send_text("18:00-09:00")
    await person.wait_for_message(T("A time window must end after it starts ({start}–{end}). Please choose the end "
                                    "again.", lang, start="18:00", end="09:00"))
    await person.send_text("09:00-11:30")
    await person.wait_for_message(T("Your own hours: {hours}", lang, hours="09:00-11:30"))
    await person.press(T("Next ➡️", lang))
    summary = await person.wait_for_message(T("Please check your registration:", lang))
    assert "**************008X" in summary.text and VALID_ID not in summary.text
    assert "会修自行车" in summary.text and "09:00–11:30" in summary.text
    assert await volunteer_row(session, person) is None, "nothing saved before it is sent"

    # Without consent it is not sent.
    query = await person.press(T("✅ Send registration", lang))
    refused = await person.wait_for_callback_answer(query)
    assert refused.text == T("Please tick the consent first: without it you cannot register.", lang)
    await person.press(T("⬜ I agree to the use of my data", lang))
    await person.wait_for_message(has_button(T("☑️ I agree to the use of my data", lang)))
    mark = li_jing.mark()
    await person.press(T("✅ Send registration", lang))
    await person.wait_for_message(T("✅ Thank you! Your registration has been sent to the social workers of "
                                    "{community}. You will be told here when it is approved.", lang,
                                    community="晨光社区" if lang == "zh_CN" else "Chenguang Community"))
    row = await volunteer_row(session, person)
    assert (row.status, row.id_number_masked, row.phone) == (VolunteerStatus.PENDING, "**************008X",
                                                             "+8613912345678")
    assert row.skills == ["driving"] and row.skills_other == "会修自行车"
    windows = (await session.scalars(select(VolunteerAvailability).where(
        VolunteerAvailability.volunteer_id == row.user_id))).all()
    assert [(w.weekday, w.starts_at.isoformat(), w.ends_at.isoformat()) for w in windows] == [
        (5, "09:00:00", "11:30:00")]
    await session.commit()

    # 李静 approves from the notice: a volunteer number, the role, and the volunteer is told.
    notice = await li_jing.wait_for_message(has_button(T("✅ Approve")), after=mark, timeout=10)
    assert "张伟" in notice.text
    person_mark = person.mark()
    query = await li_jing.press(T("✅ Approve"), message_id=notice.message_id)
    approved = await li_jing.wait_for_callback_answer(query)
    number = re.search(r"ZY\d{10}", approved.text).group(0)
    welcome = await person.wait_for_message(number, after=person_mark, timeout=10)
    assert welcome.text.startswith("🎉")
    row = await volunteer_row(session, person)
    assert (row.status, row.volunteer_number) == (VolunteerStatus.APPROVED, number)
    assert (await user_row(session, person)).has_role(Role.VOLUNTEER)
    await person.send_text("/volunteer")
    await person.wait_for_message(T("You are a registered volunteer. Volunteer number: {number}.", lang,
                                    number=number))


async def test_a_minor_needs_a_guardian_and_a_rejection_says_why(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await onboard(emulator, name="张小明")
    await register_until_summary(person, "zh_CN", born="2012-05-05", id_number=MINOR_ID, guardian=True)
    await person.press(T("⬜ I agree to the use of my data"))
    await person.wait_for_message(has_button(T("☑️ I agree to the use of my data")))
    query = await person.press(T("✅ Send registration"))
    refused = await person.wait_for_callback_answer(query)
    assert refused.text == T("Please confirm that your parent or guardian agrees.")
    await person.press(T("⬜ My parent or guardian agrees"))
    await person.wait_for_message(has_button(T("☑️ My parent or guardian agrees")))
    mark = li_jing.mark()
    await person.press(T("✅ Send registration"))
    await person.wait_for_message(lambda m: m.text.startswith("✅"))
    row = await volunteer_row(session, person)
    assert (row.guardian_name, row.guardian_phone) == ("张大伟", "+8613800000000")

    notice = await li_jing.wait_for_message(has_button(T("✖️ Reject")), after=mark, timeout=10)
    await li_jing.press(T("✖️ Reject"), message_id=notice.message_id)
    await li_jing.wait_for_message(has_button(T("✖️ Cancel")))
    await li_jing.send_text("   ")
    await li_jing.wait_for_message(T("Please give the reason in a few words: the volunteer reads it."))
    person_mark = person.mark()
    await li_jing.send_text("请监护人来社工站签署同意书")
    await li_jing.wait_for_message(T("{name} has been told why the registration was not approved.", name="张伟"))
    await person.wait_for_message("请监护人来社工站签署同意书", after=person_mark, timeout=10)
    row = await volunteer_row(session, person)
    assert (row.status, row.status_reason) == (VolunteerStatus.REJECTED, "请监护人来社工站签署同意书")
    # Rejected: they may register again.
    await person.send_text("/volunteer")
    await person.wait_for_message(T("What is your real name, as on your ID?"))


async def test_forged_review_callbacks_are_refused_and_change_nothing(emulator, session, world):
    zhao_min = emulator.user(world.people["zhao_min"].telegram_id, "赵敏")  # 桃园's social worker
    person = await onboard(emulator, name="张伟")
    await register_until_summary(person, "zh_CN")
    await person.press(T("⬜ I agree to the use of my data"))
    await person.wait_for_message(has_button(T("☑️ I agree to the use of my data")))
    await person.press(T("✅ Send registration"))
    await person.wait_for_message(lambda m: m.text.startswith("✅"))
    pending = await volunteer_row(session, person)
    intruder = await onboard(emulator, name="路人")
    for who in (person, intruder, zhao_min):
        await who.send_text("/help")
        anchor = await who.wait_for_message()
        for action in ("approve", "reject"):
            query = await who.press_data(VolunteerCB(action=action, id=pending.user_id).pack(),
                                         message_id=anchor.message_id)
            answer = await who.wait_for_callback_answer(query)
            assert answer.text == T("Only a social worker of the volunteer's community or a coordinator can do this.")
    row = await volunteer_row(session, person)
    assert row.status is VolunteerStatus.PENDING and row.volunteer_number is None


async def registered(emulator, session, world, name: str = "张伟"):  # noqa: ANN001, ANN201
    """A resident of 晨光 who sent a registration (pending)."""
    person = await onboard(emulator, name=name)
    await register_until_summary(person, "zh_CN")
    await person.press(T("⬜ I agree to the use of my data"))
    await person.wait_for_message(has_button(T("☑️ I agree to the use of my data")))
    await person.press(T("✅ Send registration"))
    await person.wait_for_message(lambda m: m.text.startswith("✅"))
    return person


async def test_staff_approve_suspend_and_reinstate_from_volunteers(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    person = await registered(emulator, session, world)

    await li_jing.send_text("/volunteers")
    roster = await li_jing.wait_for_message(lambda m: any("张伟" in b for b in m.buttons))
    assert any(b.startswith("🕓") for b in roster.buttons if "张伟" in b)
    await li_jing.press(next(b for b in roster.buttons if "张伟" in b))
    # The card, not the registration's notice (its Approve button may arrive from the outbox meanwhile).
    card = await li_jing.wait_for_message(lambda m: "**************008X" in m.text and T("✅ Approve") in m.buttons)
    assert VALID_ID not in card.text
    person_mark = person.mark()
    query = await li_jing.press(T("✅ Approve"), message_id=card.message_id)
    await li_jing.wait_for_callback_answer(query)
    await person.wait_for_message(lambda m: m.text.startswith("🎉"), after=person_mark, timeout=10)
    card = await li_jing.wait_for_message(has_button(T("⏸ Suspend")))

    await li_jing.press(T("⏸ Suspend"), message_id=card.message_id)
    await li_jing.wait_for_message(T("Why is this volunteer suspended? Type the reason: they will read it."))
    person_mark = person.mark()
    await li_jing.send_text("连续两次未到岗，先暂停")
    await li_jing.wait_for_message(T("Suspended; they have been told why."))
    await person.wait_for_message("连续两次未到岗，先暂停", after=person_mark, timeout=10)
    assert (await volunteer_row(session, person)).status is VolunteerStatus.SUSPENDED
    card = await li_jing.wait_for_message(has_button(T("▶️ Reinstate")))
    person_mark = person.mark()
    await li_jing.press(T("▶️ Reinstate"), message_id=card.message_id)
    await person.wait_for_message(T("You are a volunteer again: tasks will be offered to you as before."),
                                  after=person_mark, timeout=10)
    assert (await volunteer_row(session, person)).status is VolunteerStatus.APPROVED

    # Another community's social worker has nobody of 晨光 on the list; a resident has no list.
    zhao_min = emulator.user(world.people["zhao_min"].telegram_id, "赵敏")
    await zhao_min.send_text("/volunteers")
    theirs = await zhao_min.wait_for_message(T("🙌 Volunteers you look after. Tap one to see their record."))
    assert not any("张伟" in b for b in theirs.buttons)
    await person.send_text("/volunteers")
    await person.wait_for_message(T("/volunteers is for social workers and coordinators. To volunteer, send "
                                    "/volunteer."))


async def test_a_volunteer_changes_when_they_are_free(emulator, session, world):
    person = await registered(emulator, session, world)
    await person.send_text("/volunteer")
    status = await person.wait_for_message(has_button(T("🗓 Change when I am free")))
    assert T("Your volunteer registration is waiting for a social worker's approval. You will be told here.") \
        in status.text
    await person.press(T("🗓 Change when I am free"))
    edit = await person.wait_for_message(has_button("✅ " + T("Sat")))  # what they gave, ticked
    assert "✅ " + T("Mornings 8–12") in edit.buttons
    await person.press("✅ " + T("Mornings 8–12"))
    await person.wait_for_message(has_button("▫️ " + T("Mornings 8–12")))
    query = await person.press(T("💾 Save"))
    refused = await person.wait_for_callback_answer(query)
    assert refused.text == T("Please choose at least one day and one time of day.")
    await person.press("▫️ " + T("Sun"))
    await person.wait_for_message(has_button("✅ " + T("Sun")))
    await person.send_text("19:00-21:30")
    await person.wait_for_message(T("Your own hours: {hours}", hours="19:00-21:30"))
    await person.press(T("💾 Save"))
    await person.wait_for_message(T("Saved: tasks will be offered to you at these times."))
    row = await volunteer_row(session, person)
    windows = (await session.scalars(select(VolunteerAvailability).where(
        VolunteerAvailability.volunteer_id == row.user_id).order_by(VolunteerAvailability.weekday))).all()
    assert [(w.weekday, w.starts_at.isoformat(), w.ends_at.isoformat()) for w in windows] == [
        (5, "19:00:00", "21:30:00"), (6, "19:00:00", "21:30:00")]
    await session.commit()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_volunteer_changes_phone_skills_and_services(emulator, session, world, lang):
    person = await registered(emulator, session, world)
    if lang == "en":
        await person.send_text("/language")
        await person.wait_for_message(has_button("English"))
        await person.press("English")
        await person.wait_for_message(T("What would you like to do?", "en"))
    await person.send_text("/volunteer")
    await person.wait_for_message(has_button(T("✏️ Change my phone, skills or services", lang)))
    await person.press(T("✏️ Change my phone, skills or services", lang))
    edit = await person.wait_for_message(has_button("✅ " + T("Shopping and errands", lang)))
    assert "+8613912345678" in edit.text
    await person.press(T("📞 Change my phone", lang))
    await person.wait_for_message(T("Your phone number, for the social worker who arranges your tasks? For example "
                                    "13912345678.", lang))
    await person.send_text("13")
    await person.wait_for_message(T("{text} is not a phone number that can be called. Please check it: a mobile "
                                    "number has 11 digits (13912345678); a landline needs its area code "
                                    "(0351-1234567).", lang, text="13"))
    await person.send_text("0351-7654321")
    await person.wait_for_message(lambda m: "+863517654321" in m.text)
    await person.press("✅ " + T("Shopping and errands", lang))
    await person.wait_for_message(has_button("▫️ " + T("Shopping and errands", lang)))
    await person.press("▫️ " + T("First aid", lang))
    await person.wait_for_message(has_button("✅ " + T("First aid", lang)))
    await person.send_text("持有红十字救护员证")
    await person.wait_for_message(T("Your own words: {skills_other}", lang, skills_other="持有红十字救护员证"))
    await person.press(T("💾 Save", lang))
    await person.wait_for_message(T("Saved: your volunteer details are up to date.", lang))
    row = await volunteer_row(session, person)
    assert (row.phone, row.skills, row.skills_other) == ("+863517654321", ["first_aid"], "持有红十字救护员证")
    assert row.status is VolunteerStatus.PENDING, "a change does not touch the review"


async def test_the_first_step_has_no_back_button_and_cancel_saves_nothing(emulator, session, world):
    person = await onboard(emulator, name="张伟")
    await person.send_text("/volunteer")
    first = await person.wait_for_message(T("What is your real name, as on your ID?"))
    assert T("⬅️ Back") not in first.buttons and T("✖️ Cancel") in first.buttons
    await person.press(T("✖️ Cancel"))
    await person.wait_for_message(T("Registration cancelled: nothing was saved."))
    assert await volunteer_row(session, person) is None
