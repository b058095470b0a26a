"""Check-in and check-out end to end: the window, a shared location compared with the place,
the minutes served, every refusal (too early, after the end, twice, without a place, out
without in), and a forgotten check-out reminded at the end and flagged after the grace period.

Time moves with the test clock; reminders are swept by the test (`app.sweeper.sweep()`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.i18n import format_local_time
from bot.services import records, tasks
from handlers.callbacks import RecordCB
from models import Community, RecordStatus, ServiceRecord, TaskAssignment, User
from tests.conftest import CLOCK
from tests.support import T, has_button, settled
from tests.test_e2e_tasks import volunteer_person
from tests.test_services_tasks import POLICY, next_saturday

pytestmark = pytest.mark.usefixtures("app")

PLACE = (37.8700, 112.5500)
NEAR = (37.8709, 112.5500)  # about 100 m north
FAR = (37.8970, 112.5500)  # about 3 km north


def test_hours_are_whole_minutes_rounded_half_up_to_a_tenth() -> None:
    assert [records.hours(m) for m in (95, 45, 120, 1, 3)] == [Decimal("1.6"), Decimal("0.8"), Decimal("2.0"),
                                                              Decimal("0.0"), Decimal("0.1")]
    # Across midnight (local), and whatever the zone of each moment: what really passed, seconds dropped.
    shanghai = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 12, 31, 23, 10, 59, tzinfo=shanghai)
    assert records.served_minutes(start, datetime(2027, 1, 1, 0, 40, 30, tzinfo=shanghai)) == 89
    assert records.served_minutes(start, datetime(2026, 12, 31, 16, 40, 30, tzinfo=UTC)) == 89


async def placed(session, emulator, world, lang: str, *, name: str = "张伟"):  # noqa: ANN001, ANN201
    """A volunteer holding the one place of a task at 晨光's activity centre next Saturday 9–11."""
    person = await volunteer_person(session, emulator, name, "晨光社区", world, lang)
    li_jing = await session.get(User, world.people["li_jing"].id)
    task, offered = await tasks.create(session, li_jing, tasks.TaskForm(
        kind=tasks.TaskKind.COMMUNITY, title="敬老活动", place="活动中心", starts_at=next_saturday(9),
        ends_at=next_saturday(11), needed=1, latitude=PLACE[0], longitude=PLACE[1]), now=CLOCK.now(), policy=POLICY)
    assert offered == 1
    user = await session.scalar(select(User).where(User.telegram_id == person.id))
    assignment = await session.scalar(select(TaskAssignment).where(TaskAssignment.task_id == task.id))
    await tasks.accept(session, user, assignment.id, now=CLOCK.now(), policy=POLICY)
    ids = (task.id, assignment.id, task.starts_at, task.ends_at)
    await session.commit()
    await person.wait_for_message(has_button(T("✅ I can help", lang)), timeout=10)
    return (person, *ids)


async def record_of(session, assignment_id: int) -> ServiceRecord | None:  # noqa: ANN001
    session.expire_all()
    row = await session.scalar(select(ServiceRecord).where(ServiceRecord.assignment_id == assignment_id))
    if row is not None:
        session.expunge(row)
    await session.commit()
    return row


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_volunteer_checks_in_near_the_place_and_out_and_the_social_worker_sees_it(
    emulator, session, world, lang
):
    person, task_id, assignment_id, starts, ends = await placed(session, emulator, world, lang)
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")

    # Too early: nothing open yet, and a button pressed anyway says when it opens.
    CLOCK.set(starts - timedelta(hours=1))
    await person.send_text("/checkin")
    listing = await person.wait_for_message(T("No task is open for check-in now: it opens 30 minutes before a task "
                                              "starts. Send /tasks to see yours.", lang))
    query = await person.press_data(RecordCB(action="in", id=assignment_id).pack(), message_id=listing.message_id)
    answer = await person.wait_for_callback_answer(query)
    assert answer.text == T("Too early: check-in for “{title}” opens 30 minutes before it starts.", lang,
                            title="敬老活动")
    # Out without in.
    await person.send_text("/checkout")
    await person.wait_for_message(T("You are not checked in to any task, so there is nothing to check out of. Check "
                                    "in with /checkin when you arrive.", lang))

    CLOCK.set(starts - timedelta(minutes=20))
    await person.send_text("/checkin")
    await person.wait_for_message(has_button(T("📍 Check in: {title}", lang, title="敬老活动")))
    await person.press(T("📍 Check in: {title}", lang, title="敬老活动"))
    await person.wait_for_message(T("Send your location so the social worker knows you have arrived, or check in "
                                    "without it.", lang))
    assert T("📍 Send my location", lang) in person.reply_buttons
    worker_mark = li_jing.mark()
    await person.send_location(*NEAR)
    await person.wait_for_message(T("✅ Checked in to “{title}” at {time}. When you finish, send /checkout.", lang,
                                    title="敬老活动", time=format_local_time(CLOCK.now(), lang, "Asia/Shanghai")))
    assert person.reply_keyboard is None or "remove_keyboard" in person.reply_keyboard
    row = await record_of(session, assignment_id)
    assert row.status is RecordStatus.CHECKED_IN and 80 <= row.distance_m <= 120 and row.flagged is None

    # Twice: refused, nothing changes.
    await person.send_text("/checkin")
    listing = await person.wait_for_message(T("No task is open for check-in now: it opens 30 minutes before a task "
                                              "starts. Send /tasks to see yours.", lang))
    query = await person.press_data(RecordCB(action="in", id=assignment_id).pack(), message_id=listing.message_id)
    assert (await person.wait_for_callback_answer(query)).text == T("You already checked in to “{title}”.", lang,
                                                                     title="敬老活动")

    # Out after 2 hours 5 minutes and a few seconds: 125 minutes, 2.1 hours.
    CLOCK.set(CLOCK.now() + timedelta(hours=2, minutes=5, seconds=40))
    await person.send_text("/checkout")
    await person.wait_for_message(has_button(T("🏁 Check out: {title}", lang, title="敬老活动")))
    await person.press(T("🏁 Check out: {title}", lang, title="敬老活动"))
    await person.wait_for_message(T("🏁 Checked out: {hours} hours served. The social worker will verify them; you "
                                    "will be told.", lang, hours="2.1"))
    row = await record_of(session, assignment_id)
    assert (row.status, row.minutes) == (RecordStatus.PENDING, 125)
    told = await li_jing.wait_for_message(T("🏁 {name} checked out of “{title}”: {hours} hours to verify.",
                                            name="张伟", title="敬老活动", hours="2.1"), after=worker_mark, timeout=10)
    assert T("🧾 Verify") in told.buttons
    await li_jing.send_text("/tasks")
    listing = await li_jing.wait_for_message(T("📋 Your volunteer tasks. Tap one to see who is coming."))
    await li_jing.press(next(b for b in listing.buttons if "敬老活动" in b))
    card = await li_jing.wait_for_message(T("Places filled: {filled} of {needed}", filled=1, needed=1))
    assert "📍 " in card.text and T("{hours} h", hours="2.1") in card.text
    assert T("🧾 Verify hours ({count})", count=1) in card.buttons


async def test_refusals_far_location_and_a_forgotten_check_out(emulator, session, world, app):
    person, task_id, assignment_id, starts, ends = await placed(session, emulator, world, "zh_CN")
    other = await volunteer_person(session, emulator, "刘芳", "晨光社区", world)
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")

    # Someone else's place, and a place one does not hold (the other volunteer's forged press).
    CLOCK.set(starts - timedelta(minutes=5))
    await other.send_text("/checkin")
    listing = await other.wait_for_message(T("No task is open for check-in now: it opens 30 minutes before a task "
                                             "starts. Send /tasks to see yours."))
    for action in ("in", "out"):
        query = await other.press_data(RecordCB(action=action, id=assignment_id).pack(), message_id=listing.message_id)
        assert (await other.wait_for_callback_answer(query)).text == T("This task is someone else's.")

    # Far from the place: checked in all the same, and the social worker is told.
    worker_mark = li_jing.mark()
    await person.send_text("/checkin")
    await person.wait_for_message(has_button(T("📍 Check in: {title}", title="敬老活动")))
    await person.press(T("📍 Check in: {title}", title="敬老活动"))
    await person.wait_for_message(T("Send your location so the social worker knows you have arrived, or check in "
                                    "without it."))
    await person.send_location(*FAR)
    said = await person.wait_for_message(T("✅ Checked in to “{title}” at {time}. When you finish, send /checkout.",
                                           title="敬老活动", time=format_local_time(CLOCK.now(), "zh_CN",
                                                                                  "Asia/Shanghai")))
    assert "3.0 km" in said.text
    await li_jing.wait_for_message("3.0 km", after=worker_mark, timeout=10)
    assert (await record_of(session, assignment_id)).flagged == "far"

    # Never checked out: reminded at the end (once), flagged after the grace period, never counted.
    CLOCK.set(ends)
    mark = person.mark()
    await app.sweeper.sweep()
    await app.sweeper.sweep()
    reminder = await person.wait_for_message(has_button(T("🏁 Check out")), after=mark, timeout=10)
    await person.wait_idle()
    assert sum(1 for m in person.messages if m.seq > mark and T("🏁 Check out") in m.buttons) == 1
    CLOCK.set(ends + timedelta(minutes=121))
    worker_mark, mark = li_jing.mark(), person.mark()
    await app.sweeper.sweep()
    await li_jing.wait_for_message("⚠️", after=worker_mark, timeout=10)
    await person.wait_for_message(T("You did not check out of “{title}”. Your hours are not counted until the social "
                                    "worker confirms them; you will be told.", title="敬老活动"), after=mark,
                                  timeout=10)
    row = await record_of(session, assignment_id)
    assert (row.status, row.minutes, row.flagged) == (RecordStatus.NO_CHECKOUT, None, "no_checkout")
    # The reminder's button now says it is too late, and nothing is counted.
    query = await person.press(T("🏁 Check out"), message_id=reminder.message_id)
    assert (await person.wait_for_callback_answer(query)).text == T(
        "The check-out for “{title}” was too late to record: the social worker will confirm your hours.",
        title="敬老活动")
    assert (await record_of(session, assignment_id)).minutes is None

    # After the end nobody can check in any more.
    await settled(person)
    community = await session.get(Community, world.communities["晨光社区"].id)
    assert community is not None
    await session.commit()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_the_social_worker_adjusts_the_hours_and_the_volunteer_asks_for_a_correction(
    emulator, session, world, lang
):
    person, task_id, assignment_id, starts, ends = await placed(session, emulator, world, lang)
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    user = await session.scalar(select(User).where(User.telegram_id == person.id))
    await records.check_in(session, user, assignment_id, now=starts, policy=POLICY)
    await session.commit()
    CLOCK.set(starts + timedelta(minutes=125))
    worker_mark = li_jing.mark()
    await person.send_text("/checkout")
    await person.wait_for_message(has_button(T("🏁 Check out: {title}", lang, title="敬老活动")))
    await person.press(T("🏁 Check out: {title}", lang, title="敬老活动"))
    notice = await li_jing.wait_for_message(has_button(T("🧾 Verify")), after=worker_mark, timeout=10)
    year = CLOCK.now().astimezone(ZoneInfo("Asia/Shanghai")).year
    # Not verified yet: nothing counts.
    await person.send_text("/hours")
    hours_text = await person.wait_for_message(T("⏱ Your verified service hours: {total} in all, {year_hours} in "
                                                 "{year}.", lang, total="0.0", year_hours="0.0", year=year))
    assert T("{count} record(s) still waiting for a social worker.", lang, count=1) in hours_text.text
    assert T("waiting for verification", lang) in hours_text.text

    # A forged review button from the volunteer is refused.
    record_id = (await record_of(session, assignment_id)).id
    query = await person.press_data(RecordCB(action="review", id=record_id).pack(),
                                    message_id=person.messages[-1].message_id)
    assert (await person.wait_for_callback_answer(query)).text == T(
        "Only the task's social worker, a supervisor or a coordinator can verify its records.", lang)

    # 李静 adjusts: she left an hour early.
    await li_jing.press(T("🧾 Verify"), message_id=notice.message_id)
    await li_jing.wait_for_message(T("Served: {hours} hours", hours="2.1"))
    await li_jing.press(T("✏️ Adjust the hours"))
    await li_jing.wait_for_message(T("How many hours should count? Type them, like 1.5 or 90分钟."))
    await li_jing.send_text("0")
    await li_jing.wait_for_message(T("The hours must be more than zero; to count nothing, reject the record."))
    await li_jing.send_text("1小时")
    await li_jing.wait_for_message(T("Why? The volunteer reads it and may ask for a correction."))
    mark = person.mark()
    await li_jing.send_text("提前一小时离开")
    await li_jing.wait_for_message(T("Adjusted: {hours} hours count. The volunteer has been told why.", hours="1.0"))
    told = await person.wait_for_message(has_button(T("✍️ Ask for a correction", lang)), after=mark, timeout=10)
    assert "提前一小时离开" in told.text
    row = await record_of(session, assignment_id)
    assert (row.status, row.minutes, row.verified_minutes, row.reason) == (RecordStatus.ADJUSTED, 125, 60,
                                                                           "提前一小时离开")

    # The volunteer disagrees; the record goes back to 李静 with their words, and she verifies it as recorded.
    await person.press(T("✍️ Ask for a correction", lang), message_id=told.message_id)
    await person.wait_for_message(T("What should be corrected? Say it in a few words, like “I stayed until 12:00”.",
                                    lang))
    worker_mark = li_jing.mark()
    await person.send_text("我一直待到最后")
    await person.wait_for_message(T("Sent: the social worker will look at your record again and you will be told.",
                                    lang))
    again = await li_jing.wait_for_message("我一直待到最后", after=worker_mark, timeout=10)
    await li_jing.press(T("🧾 Verify"), message_id=again.message_id)
    await li_jing.wait_for_message(T("The volunteer asks for a correction: “{note}”", note="我一直待到最后"))
    mark = person.mark()
    query = await li_jing.press(T("✔️ Verify as recorded"))
    assert (await li_jing.wait_for_callback_answer(query)).text == T(
        "Verified: {hours} hours count. The volunteer has been told.", hours="2.1")
    await person.wait_for_message(lambda m: m.text.startswith("✅") and "2.1" in m.text, after=mark, timeout=10)
    row = await record_of(session, assignment_id)
    assert (row.status, row.verified_minutes) == (RecordStatus.VERIFIED, 125)
    await person.send_text("/hours")
    hours_text = await person.wait_for_message(T("⏱ Your verified service hours: {total} in all, {year_hours} in "
                                                 "{year}.", lang, total="2.1", year_hours="2.1", year=year))
    assert "敬老活动" in hours_text.text and T("verified", lang) in hours_text.text
    # Someone who is not a volunteer is told what /hours is for.
    await li_jing.send_text("/hours")
    await li_jing.wait_for_message(T("/hours shows a volunteer's service hours. To volunteer, send /volunteer."))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_the_verified_records_of_a_period_come_as_a_workbook(emulator, session, world, lang):
    import io

    from openpyxl import load_workbook

    person, task_id, assignment_id, starts, ends = await placed(session, emulator, world, lang)
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    user = await session.scalar(select(User).where(User.telegram_id == person.id))
    worker = await session.get(User, world.people["li_jing"].id)
    worker.locale = lang  # 李静 reads English in the English run
    record = await records.check_in(session, user, assignment_id, now=starts, policy=POLICY)
    await records.check_out(session, user, assignment_id, now=starts + timedelta(minutes=95))
    await records.adjust(session, worker, record.id, 90, "提前五分钟离开", now=ends)
    await session.commit()
    day = starts.astimezone(ZoneInfo("Asia/Shanghai")).date()

    await person.send_text("/export")  # a volunteer
    await person.wait_for_message(T("/export is for social workers and coordinators.", lang))
    await li_jing.send_text(f"/export {day} {day - timedelta(days=1)}")
    await li_jing.wait_for_message(T("The period must end on or after its first day.", lang))
    await li_jing.send_text(f"/export {day - timedelta(days=400)} {day}")
    await li_jing.wait_for_message(T("Please export at most {days} days at a time.", lang, days=366))
    await li_jing.send_text("/export 十一月")
    await li_jing.wait_for_message(has_button(T("This month", lang)))
    await li_jing.send_text(f"/export {day - timedelta(days=1)} {day}")
    sent = await li_jing.wait_for_message(lambda m: m.file is not None, timeout=10)
    assert sent.file.filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(sent.file.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == (T("No.", lang), T("Volunteer number", lang), T("Name", lang), T("Sex", lang))
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row[T("Name", lang)] == "张伟" and row[T("Hours", lang)] == 1.5 and row[T("Activity", lang)] == "敬老活动"
    assert row[T("ID number (masked)", lang)] == "*****1234"
    assert "提前五分钟离开" in row[T("Verification", lang)] and row[T("Recorded by", lang)] == "李静"
    # Another period holds nothing.
    await li_jing.send_text(f"/export {day + timedelta(days=1)} {day + timedelta(days=2)}")
    await li_jing.wait_for_message(T("No verified service records from {start} to {end}.", lang,
                                     start=day + timedelta(days=1), end=day + timedelta(days=2)))


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_certificate_lists_verified_hours_renders_chinese_and_anyone_can_check_it(
    emulator, session, world, tmp_path, lang
):
    import io
    import re

    import pypdfium2
    from pypdf import PdfReader

    from tests.support import onboard

    person, task_id, assignment_id, starts, ends = await placed(session, emulator, world, lang)
    resident = await onboard(emulator, lang=lang, name="路人")

    # Nothing verified yet: no certificate.
    await person.send_text("/certificate")
    await person.wait_for_message(T("You have no verified service hours yet: a certificate lists verified hours only.",
                                    lang))
    await settled(person)
    user = await session.scalar(select(User).where(User.telegram_id == person.id))
    worker = await session.get(User, world.people["li_jing"].id)
    record = await records.check_in(session, user, assignment_id, now=starts, policy=POLICY)
    await records.check_out(session, user, assignment_id, now=starts + timedelta(minutes=95))
    await records.verify(session, worker, record.id, now=ends)
    await session.commit()

    await person.send_text("/certificate")
    sent = await person.wait_for_message(lambda m: m.file is not None, timeout=15)
    number = re.search(r"LL-\d{4}-\d{6}", sent.text).group(0)
    code = re.search(r"/verify \S+ ([A-Z0-9]{6})", sent.text).group(1)
    pdf = sent.file.data
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    for expected in ("志愿服务证明", "Certificate of Volunteer Service", "张伟", "*****1234", "敬老活动", "1.6",
                     number, code, "阳光社会工作服务中心", starts.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()):
        assert expected in text, expected
    from models import Volunteer

    volunteer_number = (await session.get(Volunteer, await _user_id(session, person))).volunteer_number
    await session.commit()
    assert volunteer_number in text
    # The CJK font is embedded (a subset), so the page renders the same anywhere: render it and look.
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    fonts = [f.get_object() for f in page["/Resources"]["/Font"].values()]
    cjk = [f for f in fonts if "WenQuanYi" in str(f.get("/BaseFont")) or "/DescendantFonts" in f]
    assert cjk, fonts
    descriptor = (cjk[0]["/DescendantFonts"][0].get_object() if "/DescendantFonts" in cjk[0] else cjk[0])
    assert "/FontFile2" in descriptor["/FontDescriptor"].get_object()
    image = pypdfium2.PdfDocument(pdf)[0].render(scale=1).to_pil().convert("L")
    dark = sum(image.histogram()[:128])
    assert dark > 2000, "the page has text drawn on it"
    image.save(tmp_path / "certificate.png")

    # Anyone checks it; a wrong code or number is not genuine.
    await resident.send_text(f"/verify {number} {code}")
    said = await resident.wait_for_message(lambda m: m.text.startswith("✅"))
    assert number in said.text and "*****1234" in said.text and "1.6" in said.text
    await resident.send_text(f"/verify {number} XXXXXX")
    await resident.wait_for_message(T("✖️ No certificate with this number and check code was issued by Linli: it is "
                                      "not genuine, or it was mistyped.", lang))
    await resident.send_text("/verify")
    await resident.wait_for_message(T("Send the certificate's number and check code, like /verify LL-2026-000001 "
                                      "ABC234.", lang))


def next_id() -> int:
    from tests.conftest import next_telegram_id

    return next_telegram_id()


async def _user_id(session, person) -> int:  # noqa: ANN001
    user_id = await session.scalar(select(User.id).where(User.telegram_id == person.id))
    await session.commit()
    return user_id


async def test_checking_in_without_a_location(emulator, session, world):
    person, task_id, assignment_id, starts, ends = await placed(session, emulator, world, "en")
    CLOCK.set(starts)
    await person.send_text("/checkin")
    await person.wait_for_message(has_button(T("📍 Check in: {title}", "en", title="敬老活动")))
    await person.press(T("📍 Check in: {title}", "en", title="敬老活动"))
    await person.wait_for_message(T("Send your location so the social worker knows you have arrived, or check in "
                                    "without it.", "en"))
    await person.tap_reply(T("✅ Check in without location", "en"))
    await person.wait_for_message(T("✅ Checked in to “{title}” at {time}. When you finish, send /checkout.", "en",
                                    title="敬老活动", time=format_local_time(starts, "en", "Asia/Shanghai")))
    row = await record_of(session, assignment_id)
    assert (row.status, row.latitude, row.distance_m) == (RecordStatus.CHECKED_IN, None, None)
