"""Trainings end to end: a social worker records one for volunteers of her community, step by step,
each typed answer checked where it is typed; the volunteers are told and see it in /trainings."""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot.services import training
from handlers.callbacks import MenuCB
from handlers.errors import NOT_SAVED
from models import Training, TrainingAttendee, User, VolunteerStatus
from tests.conftest import CLOCK
from tests.support import T, _i18n, callback_data_of, has_button, onboard, settled
from tests.test_services_training import volunteer_of

pytestmark = pytest.mark.usefixtures("app")

STATION = "和平街道社会工作服务中心·晨光社区社会工作室"


def hours(minutes: int, lang: str) -> str:
    phrase, figure = training.hours_phrase(minutes)
    return T(phrase, lang, hours=figure)


async def trainings_in(session) -> list[tuple[Training, list[int]]]:  # noqa: ANN001
    session.expire_all()
    rows = (await session.scalars(select(Training).order_by(Training.id))).all()
    found = []
    for row in rows:
        people = (await session.scalars(select(TrainingAttendee.volunteer_id).where(
            TrainingAttendee.training_id == row.id).order_by(TrainingAttendee.volunteer_id))).all()
        found.append((row, list(people)))
    await session.commit()  # end the read transaction: on SQLite it holds the write lock
    return found


async def speaking(session, world, key: str, lang: str) -> None:  # noqa: ANN001
    await session.execute(update(User).where(User.id == world.people[key].id).values(locale=lang))
    await session.commit()


async def volunteers_of_chenguang(emulator, session, world, lang: str, fillers: int = 8):  # noqa: ANN001, ANN201
    """张伟 first and 孙丽 last of more than a page of 晨光's approved volunteers; 刘洋 of 桃园 and a pending one."""
    zhang = await volunteer_of(session, world, "张伟", locale=lang)
    for n in range(fillers):
        await volunteer_of(session, world, f"志愿者{n + 1}号", locale=lang)
    await volunteer_of(session, world, "王芳", status=VolunteerStatus.PENDING)
    liu = await volunteer_of(session, world, "刘洋", community="桃园社区", locale=lang)
    sun = await volunteer_of(session, world, "孙丽", locale=lang)
    people = {name: Person(row.id, row.telegram_id, name) for name, row in (("张伟", zhang), ("孙丽", sun),
                                                                              ("刘洋", liu))}
    await session.commit()
    return {name: (person, emulator.user(person.telegram_id, name)) for name, person in people.items()}


def saved_text(count: int, lang: str) -> str:
    return _i18n().gettext("✅ Saved: the training is on the record of {count} volunteer, who has been told.",
                           "✅ Saved: the training is on the records of {count} volunteers, who have been told.",
                           count, locale=lang).format(count=count)


class Person(NamedTuple):
    id: int
    telegram_id: int
    name: str


def label(person: Person, mark: str = "▫️") -> str:
    return f"{mark} {person.name} · ZY2026{person.id:06d}"


async def refused(person, text: str, expect: str) -> None:  # noqa: ANN001
    mark = person.mark()
    await person.send_text(text)
    await person.wait_for_message(expect, after=mark)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_social_worker_records_a_training_and_the_volunteers_see_it(emulator, session, world, lang):
    await speaking(session, world, "li_jing", lang)
    people = await volunteers_of_chenguang(emulator, session, world, lang)
    (zhang, zhang_chat), (sun, sun_chat) = people["张伟"], people["孙丽"]
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    yesterday = CLOCK.now().astimezone(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)

    await li_jing.send_text("/training")
    await li_jing.wait_for_message(T("What is the training called? For example “Basics of caring for older people”.",
                                     lang))
    assert T("Step {number} of {total}", lang, number=1, total=6) in li_jing.last_message.text
    await refused(li_jing, "   ", T("Please type the name of the training, for example “Basics of caring for older "
                                   "people”.", lang))
    await refused(li_jing, "培" * 101, T("Please keep the name of the training within {limit} characters.", lang,
                                        limit=100))
    await li_jing.send_text("老年人照护基础")
    await li_jing.wait_for_message(T("What did the training cover? A few sentences are enough.", lang))
    await refused(li_jing, "内" * 1001, T("Please keep the content within {limit} characters.", lang, limit=1000))
    await li_jing.send_text("如何协助老人起身；防跌倒要点")
    await li_jing.wait_for_message(T("How long was it? Tap the hours, or type them, like 1.5 or 1:30.", lang))
    await refused(li_jing, "abc", T("Please type how long it was in hours, like 2 or 1.5.", lang))
    await refused(li_jing, "0", T("The length must be more than 0 hours. Please type it like 2 or 1.5.", lang))
    await refused(li_jing, "25", T("A training is recorded for one day, at most {limit} hours. Please check the "
                                   "length.", lang, limit=24))
    await li_jing.send_text("1小时30分")
    organisers = await li_jing.wait_for_message(T("Who organised it? Tap the name, or type another.", lang))
    assert STATION in organisers.buttons
    assert ("阳光社会工作服务中心" if lang == "zh_CN" else "Sunshine Social Work Service Centre") in organisers.buttons
    # Back to the length: a button this time.
    await li_jing.press(T("⬅️ Back", lang))
    await li_jing.wait_for_message(has_button(hours(120, lang)))
    await li_jing.press(hours(120, lang))
    await li_jing.wait_for_message(has_button(STATION))
    await refused(li_jing, " ", T("Please type who organised the training, for example the station's name.", lang))
    await li_jing.press(STATION)
    await li_jing.wait_for_message(has_button(T("📅 Yesterday", lang)))
    tomorrow = (yesterday + timedelta(days=2)).isoformat()
    await refused(li_jing, tomorrow, T("A training can be recorded once it has been held. Please give a day up to "
                                       "today.", lang))
    await refused(li_jing, "2026-02-30", T("{text} is not a real date. Please type it like {example}.", lang,
                                           text="2026-02-30", example=yesterday.isoformat()))
    await refused(li_jing, "上周", T("Please type the date like {example}.", lang, example=yesterday.isoformat()))
    await li_jing.press(T("📅 Yesterday", lang))

    # The volunteers she looks after, approved ones only, eight a page.
    first = await li_jing.wait_for_message(has_button(label(zhang)))
    assert T("Who took part? Tap each volunteer, then “Next”.", lang) in first.text
    assert not any("刘洋" in b or "王芳" in b for b in first.buttons)
    assert label(sun) not in first.buttons and ">" in first.buttons
    query = await li_jing.press(T("Next ➡️", lang))
    assert (await li_jing.wait_for_callback_answer(query)).text == T(
        "Please choose at least one volunteer who took part.", lang)
    await li_jing.press(label(zhang))
    await li_jing.wait_for_message(has_button(label(zhang, "✅")))
    await li_jing.press(">")
    second = await li_jing.wait_for_message(has_button(label(sun)))
    assert not any("刘洋" in b or "王芳" in b for b in second.buttons)
    await li_jing.press(label(sun))
    chosen = await li_jing.wait_for_message(has_button(label(sun, "✅")))
    assert T("Chosen: {count}.", lang, count=2) in chosen.text
    await li_jing.press(T("Next ➡️", lang))
    summary = await li_jing.wait_for_message(T("Please check the training record:", lang))
    assert T("Length: {hours}", lang, hours=hours(120, lang)) in summary.text
    assert T("Date: {date}", lang, date=training.day_text(yesterday, lang)) in summary.text
    assert "张伟" in summary.text and "孙丽" in summary.text and STATION in summary.text
    assert await trainings_in(session) == [], "nothing saved before Save"

    marks = {chat: chat.mark() for chat in (zhang_chat, sun_chat)}
    await li_jing.press(T("💾 Save", lang))
    await li_jing.wait_for_message(saved_text(2, lang))
    [(saved, attendees)] = await trainings_in(session)
    assert (saved.name, saved.minutes, saved.organiser, saved.held_on) == ("老年人照护基础", 120, STATION, yesterday)
    assert attendees == sorted([zhang.id, sun.id])

    # Both are told, in their language; each finds it in /trainings or behind the button.
    notice = T("📚 A training was recorded for you: {name}, {date}, {hours}, by {organiser}.\nSee all your trainings "
               "with /trainings.", lang, name="老年人照护基础", date=training.day_text(yesterday, lang),
               hours=hours(120, lang), organiser=STATION)
    for chat, mark in marks.items():
        assert (await chat.wait_for_message(notice, after=mark, timeout=10)).text == notice
    listing = T("📚 Your trainings: {count}, {hours} in all.", lang, count=1, hours=hours(120, lang))
    await zhang_chat.send_text("/trainings")
    mine = await zhang_chat.wait_for_message(listing)
    assert "老年人照护基础" in mine.text and training.day_text(yesterday, lang) in mine.text and STATION in mine.text
    await sun_chat.send_text("/volunteer")
    await sun_chat.wait_for_message(has_button(T("📚 My trainings", lang)))
    await sun_chat.press(T("📚 My trainings", lang))
    await sun_chat.wait_for_message(listing)

    # The worker's own list of what she recorded.
    await li_jing.send_text("/trainings")
    recorded = await li_jing.wait_for_message(T("📚 Trainings you recorded recently:", lang))
    assert "老年人照护基础" in recorded.text and "👥 2" in recorded.text
    assert T("📚 Record a training", lang) in recorded.buttons


async def test_back_from_the_first_step_and_cancel_record_nothing(emulator, session, world):
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")  # a coordinator records too
    await zhou.send_text("/trainings")
    await zhou.wait_for_message(T("📚 You have not recorded any trainings yet. Tap the button to record one."))
    await zhou.press(T("📚 Record a training"))
    await zhou.wait_for_message(T("📚 Record a training for volunteers."))
    await zhou.press(T("⬅️ Back"))
    await zhou.wait_for_message(lambda m: m.text == T(
        "📚 You have not recorded any trainings yet. Tap the button to record one.") and m.buttons)
    await zhou.press(T("📚 Record a training"))
    await zhou.wait_for_message(T("📚 Record a training for volunteers."))
    await zhou.send_text("防诈骗知识")
    await zhou.wait_for_message(T("What did the training cover? A few sentences are enough."))
    await zhou.press(T("✖️ Cancel"))
    await zhou.wait_for_message(T("Cancelled: no training was recorded."))
    assert T("🙋 Ask for help") in zhou.last_message.buttons
    await settled(zhou)
    assert await trainings_in(session) == []


async def to_volunteer_step(worker, lang: str = "zh_CN"):  # noqa: ANN001, ANN201
    await worker.send_text("/training")
    await worker.wait_for_message(T("📚 Record a training for volunteers.", lang))
    await worker.send_text("急救培训")
    await worker.wait_for_message(T("What did the training cover? A few sentences are enough.", lang))
    await worker.send_text("心肺复苏")
    await worker.wait_for_message(has_button(hours(60, lang)))
    await worker.press(hours(60, lang))
    await worker.wait_for_message(has_button(STATION))
    await worker.send_text("市红十字会")
    await worker.wait_for_message(has_button(T("📅 Today", lang)))
    await worker.press(T("📅 Today", lang))
    return await worker.wait_for_message(T("Who took part? Tap each volunteer, then “Next”.", lang))


async def test_forged_choices_and_buttons_are_refused_and_save_nothing(emulator, session, world):
    people = await volunteers_of_chenguang(emulator, session, world, "zh_CN", fillers=0)
    zhang, liu = people["张伟"][0], people["刘洋"][0]
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    picker = await to_volunteer_step(li_jing)
    real = callback_data_of(picker, label(zhang))
    item = real.rsplit(":", 1)[1]
    # Another community's volunteer, a made-up id, and no id at all: none of them gets through "Next".
    for forged, says in ((str(liu.id), "Only a social worker of the volunteer's community or a coordinator can do "
                                       "this."),
                         ("999999", "This volunteer could not be found."),
                         ("x", "This button is no longer valid.")):
        await li_jing.press_data(real[: -len(item)] + forged, message_id=picker.message_id)
        await settled(li_jing)
        query = await li_jing.press(T("Next ➡️"))
        assert (await li_jing.wait_for_callback_answer(query)).text == T(says)
        await li_jing.press_data(real[: -len(item)] + forged, message_id=li_jing.last_message.message_id)
        await settled(li_jing)
    # A forged "Save" before the summary is answered and does nothing: no error, no record.
    intent = callback_data_of(li_jing.last_message, T("Next ➡️")).split("\x1d")[0]
    query = await li_jing.press_data(f"{intent}\x1dsave", message_id=li_jing.last_message.message_id)
    assert not (await li_jing.wait_for_callback_answer(query)).show_alert
    await settled(li_jing)
    assert await trainings_in(session) == []

    # Menu buttons forged by people they are not for.
    resident = await onboard(emulator, name="路人")
    anchor = resident.last_message
    for action, says in (("training_new", "Only social workers and coordinators can record trainings."),
                         ("vol_trainings", "You are not registered as a volunteer yet: send /volunteer to register."),
                         ("vol_nonsense", "This button is no longer active. Please use the menu below.")):
        query = await resident.press_data(MenuCB(action=action).pack(), message_id=anchor.message_id)
        assert (await resident.wait_for_callback_answer(query)).text == T(says)
    await settled(resident)
    assert not any(T("📚 Record a training for volunteers.") in m.text for m in resident.messages)

    # The real choice still saves, once.
    await li_jing.press(label(zhang))
    await li_jing.wait_for_message(has_button(label(zhang, "✅")))
    await li_jing.press(T("Next ➡️"))
    await li_jing.wait_for_message(T("Please check the training record:"))
    await li_jing.press(T("💾 Save"))
    await li_jing.wait_for_message(lambda m: m.text.startswith("✅"))
    [(saved, attendees)] = await trainings_in(session)
    assert (saved.organiser, attendees) == ("市红十字会", [zhang.id])


async def test_volunteers_and_residents_cannot_record(emulator, session, world):
    people = await volunteers_of_chenguang(emulator, session, world, "en", fillers=0)
    _zhang, zhang_chat = people["张伟"]
    await zhang_chat.send_text("/training")
    await zhang_chat.wait_for_message(T("Trainings are recorded by your social worker. To see yours, send /trainings.",
                                        "en"))
    await zhang_chat.send_text("/trainings")
    await zhang_chat.wait_for_message(T("📚 No trainings are on your record yet. Your social worker records each "
                                        "training you take part in.", "en"))
    resident = await onboard(emulator, name="路人")
    await resident.send_text("/training")
    await resident.wait_for_message(T("Only social workers and coordinators can record trainings."))
    await resident.send_text("/trainings")
    await resident.wait_for_message(T("You are not registered as a volunteer yet: send /volunteer to register."))
    await resident.send_text("/help")
    help_text = await resident.wait_for_message(T("Here is what I can do:"))
    assert "/training" not in help_text.text
    await zhang_chat.send_text("/help")
    assert "/trainings" in (await zhang_chat.wait_for_message(T("Here is what I can do:", "en"))).text
    await settled(resident)
    assert await trainings_in(session) == []


async def test_a_failed_save_says_so_keeps_the_summary_and_tells_nobody(emulator, session, world, commit_failure):
    people = await volunteers_of_chenguang(emulator, session, world, "zh_CN", fillers=0)
    zhang, zhang_chat = people["张伟"]
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    await to_volunteer_step(li_jing)
    await li_jing.press(label(zhang))
    await li_jing.wait_for_message(has_button(label(zhang, "✅")))
    await li_jing.press(T("Next ➡️"))
    await li_jing.wait_for_message(T("Please check the training record:"))
    mark = zhang_chat.mark()
    commit_failure.arm()
    query = await li_jing.press(T("💾 Save"))
    assert (await li_jing.wait_for_callback_answer(query)).text == T(NOT_SAVED)
    await settled(li_jing)
    assert await trainings_in(session) == []
    await li_jing.press(T("💾 Save"))  # the summary is still there: saving again works
    await li_jing.wait_for_message(lambda m: m.text.startswith("✅"))
    assert len(await trainings_in(session)) == 1
    await zhang_chat.wait_for_message(lambda m: m.text.startswith("📚"), after=mark, timeout=10)
    assert sum(m.text.startswith("📚") for m in zhang_chat.messages) == 1
    count = await session.scalar(select(func.count()).select_from(TrainingAttendee))
    await session.commit()
    assert count == 1
