"""`linli demo`: the sample story, played against the bundled Bot API emulator.

A temporary SQLite database gets the sample world, the real bot polls the local
emulator, and the emulator acts as the people of DESIGN.md. No token, no
network. The conversation is printed as a transcript: a request filed, routed,
declined and re-routed, accepted, a message exchange; a volunteer registers and is
approved, the social worker asks volunteers for the case, two are offered it, one
withdraws after the day-before reminder and the waitlist fills the place; the case
is resolved and rated. Time jumps to the day before the visit on the demo's own clock.
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.app import build_app
from bot.clock import ManualClock, SystemClock
from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.migrate import upgrade
from bot.services.world import seed_sample
from models import (
    IdDocument,
    Role,
    ServiceRequest,
    Sex,
    SupportAssignment,
    User,
    UserRole,
    Volunteer,
    VolunteerAvailability,
    VolunteerStatus,
    VolunteerTask,
)
from tgemu import BotAPIEmulator

TOKEN = "100000:LINLI-DEMO"

STORY = {
    "zh_CN": {
        "client": "zh-hans",
        # 王秀兰 says it in a voice message (18 s), then adds a few typed words.
        "description": "上周摔了一跤，想请人帮我买菜、陪我去医院复查。",
        "message": "王阿姨您好，我是赵敏。明天上午10点我和志愿者一起上门，可以吗？",
        "reply": "可以，谢谢你们！",
        "summary": "已安排志愿者每周二、五帮忙买菜，并于周五陪同去医院复查。",
        "comment": "赵社工很耐心，谢谢！",
        "task": "陪王阿姨买菜、去医院复查",
        "place": "晨光社区3号楼2单元（王阿姨家）",
        "withdraw": "临时要加班",
        "late": "中途离开了约十分钟",
    },
    "en": {
        "client": "en",
        "description": "I fell last week; please help me with shopping and a hospital check-up.",
        "message": "Hello Mrs Wang, this is Zhao Min. May a volunteer and I visit tomorrow at 10 am?",
        "reply": "Yes, thank you!",
        "summary": "A volunteer now shops for you on Tuesdays and Fridays and will take you to the check-up on Friday.",
        "comment": "Very patient and kind, thank you!",
        "task": "Shopping and hospital visit with Mrs Wang",
        "place": "Building 3, Unit 2, Chenguang (Mrs Wang's home)",
        "withdraw": "Called in to work",
        "late": "Left for about ten minutes in the middle",
    },
}


# 张伟 registers in the demo; 刘芳 has been a volunteer of 晨光社区 for a while.
VOLUNTEER_ID = "14010519900307008X"  # made up, with a valid check digit


def visit_day(today: date) -> date:
    """The Saturday the volunteers come: at least two days ahead, within the case's week."""
    ahead = (5 - today.weekday()) % 7
    return today + timedelta(days=ahead if ahead >= 2 else ahead + 7)


async def run_demo(lang: str = "zh_CN", *, out=print) -> int:  # noqa: ANN001 - a print-like callable
    logging.basicConfig(level=logging.WARNING)
    story = STORY[lang]
    with tempfile.TemporaryDirectory(prefix="linli-demo-") as tmp:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'demo.sqlite3'}"
        engine = make_engine(database_url)
        await upgrade(engine)
        session_factory = make_session_factory(engine)
        async with session_factory() as session, session.begin():
            world = await seed_sample(session, residents=False, now=SystemClock().now())
            # The staff read the transcript's language too.
            await session.execute(update(User).where(User.locale.is_not(None)).values(locale=lang))
            # 刘芳, an approved volunteer of 晨光社区, free on Saturday mornings.
            now = SystemClock().now()
            liu = User(telegram_id=30002, first_name="刘芳", real_name="刘芳", locale=lang,
                       community_id=world.communities["晨光社区"].id, created_at=now, last_seen_at=now)
            session.add(liu)
            await session.flush()
            session.add_all([
                UserRole(user_id=liu.id, role=Role.VOLUNTEER, granted_at=now),
                Volunteer(user_id=liu.id, real_name="刘芳", sex=Sex.FEMALE, birth_date=date(1985, 6, 1),
                          id_type=IdDocument.RESIDENT_ID, id_number_masked="**************0026",
                          phone="+8613800000002", community_id=world.communities["晨光社区"].id,
                          skills=["errands", "elder_care"], interests=[], consent_at=now,
                          status=VolunteerStatus.APPROVED, volunteer_number="ZY2025000001",
                          last_offered_at=now - timedelta(days=3), created_at=now, updated_at=now),
                VolunteerAvailability(volunteer_id=liu.id, weekday=5, starts_at=time(8), ends_at=time(12)),
            ])
            # 王强 too.
            wang = User(telegram_id=30003, first_name="王强", real_name="王强", locale=lang,
                        community_id=world.communities["晨光社区"].id, created_at=now, last_seen_at=now)
            session.add(wang)
            await session.flush()
            session.add_all([
                UserRole(user_id=wang.id, role=Role.VOLUNTEER, granted_at=now),
                Volunteer(user_id=wang.id, real_name="王强", sex=Sex.MALE, birth_date=date(1992, 9, 9),
                          id_type=IdDocument.RESIDENT_ID, id_number_masked="**************0031",
                          phone="+8613800000003", community_id=world.communities["晨光社区"].id,
                          skills=["errands", "driving"], interests=[], consent_at=now,
                          status=VolunteerStatus.APPROVED, volunteer_number="ZY2025000002",
                          last_offered_at=now - timedelta(days=2), created_at=now, updated_at=now),
                VolunteerAvailability(volunteer_id=wang.id, weekday=5, starts_at=time(8), ends_at=time(12)),
            ])
            # 赵敏 of 桃园社区 supports 晨光社区 this month (the policy's "three areas plan").
            today = SystemClock().now().date()
            session.add(SupportAssignment(worker_id=world.people["zhao_min"].id,
                                          community_id=world.communities["晨光社区"].id, starts_on=today,
                                          ends_on=today + timedelta(days=30), created_at=SystemClock().now()))

        async with BotAPIEmulator(TOKEN) as emulator:
            settings = Settings(
                bot_token=TOKEN, database_url=database_url, telegram_api_base=emulator.base_url, _env_file=None
            )
            clock = ManualClock(SystemClock().now())  # the demo jumps to the day before the visit
            app = build_app(settings, engine=engine, per_chat_interval=0.05, clock=clock)
            t = lambda msgid: app.i18n.gettext(msgid, locale=lang)  # noqa: E731 - the bot's own labels
            polling = asyncio.create_task(
                app.start_polling(handle_signals=False, polling_timeout=1)
            )
            try:
                li_jing = world.people["li_jing"]
                worker = emulator.user(li_jing.telegram_id, li_jing.real_name or "李静", language_code="zh-hans")
                zhao_min = world.people["zhao_min"]
                helper = emulator.user(zhao_min.telegram_id, zhao_min.real_name or "赵敏", language_code="zh-hans")

                def number_in(text: str) -> bool:
                    return "2026-" in text or "-0000" in text
                # Her phone speaks the story's language: Linli adopts it without asking.
                resident = emulator.user(20001, "王秀兰", language_code=story["client"])
                resident.phone = "+8613912345678"

                await resident.send_text("/start")
                community = world.communities["晨光社区"]
                label = (
                    f"{community.display_name(lang)} · {community.display_district(lang)}"
                )
                await resident.wait_for_message(lambda m: label in m.buttons)
                await resident.press(label)
                await resident.wait_for_message(lambda m: t("🙋 Ask for help") in m.buttons)

                await resident.press(t("🙋 Ask for help"))
                elderly = "老年人" if lang == "zh_CN" else "Older people"
                await resident.wait_for_message(lambda m: elderly in m.buttons)
                await resident.press(elderly)
                service = "生活照料（买菜、陪同就医等）" if lang == "zh_CN" else "Daily help (shopping, hospital visits…)"
                await resident.wait_for_message(lambda m: service in m.buttons)
                await resident.press(service)
                await resident.wait_for_message(t("Please tell us in a few words what help you need."))
                # She talks rather than types: a voice message is the description.
                await resident.send_voice(18)
                await resident.wait_for_message(lambda m: t("➡️ Continue") in m.buttons)
                await resident.send_text(story["description"])
                await resident.wait_for_message(t("If you would like a home visit, you can send your location."))
                await resident.send_location(37.8706, 112.5489)
                await resident.wait_for_message(t("May the social worker call you? Tap the button to share your phone number."))
                await resident.tap_reply(t("📞 I agree: share my phone number"))
                await resident.wait_for_message(lambda m: t("✅ Send request") in m.buttons)
                await resident.press(t("✅ Send request"))
                await resident.wait_for_message(t("Send /my to see how it is going."))

                # Routing offers the case to 李静, the social worker of 晨光社区. She has too many cases
                # this week and declines; the case goes on to 赵敏, who supports 晨光社区 this month.
                offer = await worker.wait_for_message(lambda m: t("✅ Accept") in m.buttons, timeout=10)
                helper_mark = helper.mark()
                await worker.press(t("↩️ Decline"), message_id=offer.message_id)
                await worker.wait_for_message(lambda m: t("too many cases") in m.buttons)
                await worker.press(t("too many cases"))
                await worker.wait_for_message(lambda m: t("✅ Accept") not in m.buttons and number_in(m.text))

                offer = await helper.wait_for_message(lambda m: t("✅ Accept") in m.buttons, after=helper_mark,
                                                      timeout=10)
                resident_mark = resident.mark()
                await helper.press(t("✅ Accept"), message_id=offer.message_id)
                card = await helper.wait_for_message(t("Timeline:"))
                await helper.wait_for_message(lambda m: m.kind == "voice")  # her voice message, re-sent
                await resident.wait_for_message(lambda m: "✅" in m.text, after=resident_mark, timeout=10)

                # A message exchange through the bot: neither sees the other's Telegram account.
                resident_mark = resident.mark()
                await helper.press(t("💬 Message the resident"), message_id=card.message_id)
                await helper.wait_for_message(lambda m: t("✖️ Cancel") in m.buttons)
                await helper.send_text(story["message"])
                relayed = await resident.wait_for_message(lambda m: t("↩️ Reply") in m.buttons, after=resident_mark,
                                                          timeout=10)
                helper_mark = helper.mark()
                await resident.press(t("↩️ Reply"), message_id=relayed.message_id)
                await resident.wait_for_message(lambda m: t("✖️ Cancel") in m.buttons)
                await resident.send_text(story["reply"])
                await helper.wait_for_message(story["reply"], after=helper_mark, timeout=10)

                # 张伟 registers as a volunteer; 李静 approves him (he gets a volunteer number).
                volunteer = emulator.user(30001, "张伟", language_code=story["client"])
                await volunteer.send_text("/start")
                await volunteer.wait_for_message(lambda m: label in m.buttons)
                await volunteer.press(label)
                await volunteer.wait_for_message(lambda m: t("🙋 Ask for help") in m.buttons)
                await volunteer.send_text("/volunteer")
                await volunteer.wait_for_message(t("What is your real name, as on your ID?"))
                await volunteer.send_text("张伟")
                await volunteer.wait_for_message(lambda m: t("Male") in m.buttons)
                await volunteer.press(t("Male"))
                await volunteer.wait_for_message(t("Your date of birth? Type it like 1990-03-07."))
                await volunteer.send_text("1990-03-07")
                await volunteer.wait_for_message(lambda m: t("Resident ID card (居民身份证)") in m.buttons)
                await volunteer.press(t("Resident ID card (居民身份证)"))
                await volunteer.wait_for_message(t("Only its last four characters are kept; the rest is checked and "
                                                   "then masked."))
                await volunteer.send_text(VOLUNTEER_ID)
                await volunteer.wait_for_message(t("Your phone number, for the social worker who arranges your tasks? "
                                                   "For example 13912345678."))
                await volunteer.send_text("13912345678")
                errands = t("Shopping and errands")
                await volunteer.wait_for_message(lambda m: "▫️ " + errands in m.buttons)
                await volunteer.press("▫️ " + errands)
                await volunteer.wait_for_message(lambda m: "✅ " + errands in m.buttons)
                await volunteer.press(t("Next ➡️"))
                services = await volunteer.wait_for_message(lambda m: any(b.startswith("▫️ ") for b in m.buttons))
                await volunteer.press(next(b for b in services.buttons if b.startswith("▫️ ")))
                await volunteer.wait_for_message(lambda m: any(b.startswith("✅ ") for b in m.buttons))
                await volunteer.press(t("Next ➡️"))
                await volunteer.wait_for_message(lambda m: "▫️ " + t("Sat") in m.buttons)
                await volunteer.press("▫️ " + t("Sat"))
                await volunteer.wait_for_message(lambda m: "✅ " + t("Sat") in m.buttons)
                await volunteer.press("▫️ " + t("Mornings 8–12"))
                await volunteer.wait_for_message(lambda m: "✅ " + t("Mornings 8–12") in m.buttons)
                await volunteer.press(t("Next ➡️"))
                await volunteer.wait_for_message(t("Please check your registration:"))
                await volunteer.press(t("⬜ I agree to the use of my data"))
                await volunteer.wait_for_message(lambda m: t("☑️ I agree to the use of my data") in m.buttons)
                worker_mark = worker.mark()
                await volunteer.press(t("✅ Send registration"))
                review = await worker.wait_for_message(lambda m: t("✅ Approve") in m.buttons, after=worker_mark,
                                                       timeout=10)
                volunteer_mark = volunteer.mark()
                await worker.press(t("✅ Approve"), message_id=review.message_id)
                await volunteer.wait_for_message(lambda m: "ZY" in m.text, after=volunteer_mark, timeout=10)

                # 赵敏 asks volunteers for the case: Saturday 9:00, two hours, one person who can run errands.
                liu_fang = emulator.user(30002, "刘芳", language_code=story["client"])
                tz = ZoneInfo("Asia/Shanghai")
                day = visit_day(clock.now().astimezone(tz).date())
                await helper.press(t("🙋 Ask volunteers"), message_id=card.message_id)
                await helper.wait_for_message(t("What should the volunteers do? Type a short title, like “Accompany "
                                                "Mrs Wang to hospital”."))
                await helper.send_text(story["task"])
                await helper.wait_for_message(t("Where? Type the address or meeting point. You can also share a "
                                                "location on the map."))
                await helper.send_location(37.8706, 112.5489)  # the door of 王秀兰's building
                await helper.wait_for_message(t("📍 Location received."))
                await helper.send_text(story["place"])
                await helper.wait_for_message(t("Which day? Tap it, or type it like 2026-12-05."))
                await helper.send_text(day.isoformat())
                await helper.wait_for_message(lambda m: "09:00" in m.buttons)
                await helper.press("09:00")
                two_hours = t("{hours} h").format(hours="2")
                await helper.wait_for_message(lambda m: two_hours in m.buttons)
                await helper.press(two_hours)
                await helper.wait_for_message(lambda m: "2" in m.buttons)
                await helper.press("2")
                await helper.wait_for_message(lambda m: "▫️ " + errands in m.buttons)
                await helper.press("▫️ " + errands)
                await helper.wait_for_message(lambda m: "✅ " + errands in m.buttons)
                await helper.press(t("Next ➡️"))
                await helper.wait_for_message(t("Please check the task:"))
                wang_qiang = emulator.user(30003, "王强", language_code=story["client"])
                volunteer_mark, liu_mark, wang_mark = volunteer.mark(), liu_fang.mark(), wang_qiang.mark()
                await helper.press(t("✅ Create and offer"))
                await helper.wait_for_message(lambda m: m.text.startswith("📋"))

                # Two places, three offered: 张伟 and 刘芳 answer first and have them, 王强 is first on the waitlist.
                offers = [await person.wait_for_message(lambda m: t("✅ I can help") in m.buttons, after=mark,
                                                        timeout=10)
                          for person, mark in ((volunteer, volunteer_mark), (liu_fang, liu_mark),
                                               (wang_qiang, wang_mark))]
                for person, offer in zip((volunteer, liu_fang, wang_qiang), offers, strict=True):
                    await person.press(t("✅ I can help"), message_id=offer.message_id)
                    await person.wait_for_message(lambda m: t("↩️ I can't come") in m.buttons)

                # The day before the visit: 张伟 is reminded, cannot come after all, and 王强 moves up.
                async with session_factory() as session:
                    starts = await session.scalar(select(VolunteerTask.starts_at))
                clock.set(starts - timedelta(days=1))
                volunteer_mark, wang_mark, resident_mark = volunteer.mark(), wang_qiang.mark(), resident.mark()
                helper_mark = helper.mark()
                await app.sweeper.sweep()
                reminder = await volunteer.wait_for_message(lambda m: t("✅ Still coming") in m.buttons,
                                                            after=volunteer_mark, timeout=10)
                await volunteer.press(t("↩️ I can't come"), message_id=reminder.message_id)
                await volunteer.wait_for_message(lambda m: t("Yes, give up my place") in m.buttons)
                await volunteer.press(t("Yes, give up my place"))
                await wang_qiang.wait_for_message(lambda m: m.text.startswith("🎉"), after=wang_mark, timeout=10)
                await resident.wait_for_message(lambda m: "王" in m.text and "🙋" in m.text, after=resident_mark,
                                                timeout=10)
                await helper.wait_for_message(lambda m: m.text.startswith("↩️") and "王强" in m.text,
                                              after=helper_mark, timeout=10)

                # On the day: 刘芳 checks in at the door sharing her location, 王强 half an hour late without;
                # both check out at 11:05. 赵敏 verifies 刘芳's record and adjusts 王强's, saying why.
                async def check_in(person, location, at) -> None:  # noqa: ANN001
                    clock.set(at)
                    await person.send_text("/checkin")
                    await person.wait_for_message(lambda m: any(b.startswith("📍") for b in m.buttons))
                    await person.press(next(b for b in person.messages[-1].buttons if b.startswith("📍")))
                    await person.wait_for_message(lambda m: t("📍 Send my location") in person.reply_buttons)
                    if location:
                        await person.send_location(*location)
                    else:
                        await person.tap_reply(t("✅ Check in without location"))
                    await person.wait_for_message(lambda m: m.text.startswith("✅"))

                async def check_out(person) -> None:  # noqa: ANN001
                    await person.send_text("/checkout")
                    await person.wait_for_message(lambda m: any(b.startswith("🏁") for b in m.buttons))
                    await person.press(next(b for b in person.messages[-1].buttons if b.startswith("🏁")))
                    await person.wait_for_message(lambda m: m.text.startswith("🏁"))

                await check_in(liu_fang, (37.8707, 112.5490), starts - timedelta(minutes=10))
                await check_in(wang_qiang, None, starts + timedelta(minutes=25))
                clock.set(starts + timedelta(hours=2, minutes=5))
                helper_mark = helper.mark()
                await check_out(liu_fang)
                await check_out(wang_qiang)
                notices = []
                for name in ("刘芳", "王强"):
                    notices.append(await helper.wait_for_message(
                        lambda m, name=name: t("🧾 Verify") in m.buttons and name in m.text, after=helper_mark,
                        timeout=10))
                liu_mark, wang_mark = liu_fang.mark(), wang_qiang.mark()
                await helper.press(t("🧾 Verify"), message_id=notices[0].message_id)
                await helper.wait_for_message(lambda m: t("✔️ Verify as recorded") in m.buttons)
                await helper.press(t("✔️ Verify as recorded"))
                await liu_fang.wait_for_message(lambda m: m.text.startswith("✅"), after=liu_mark, timeout=10)
                await helper.press(t("🧾 Verify"), message_id=notices[1].message_id)
                await helper.wait_for_message(lambda m: t("✏️ Adjust the hours") in m.buttons)
                await helper.press(t("✏️ Adjust the hours"))
                await helper.wait_for_message(t("How many hours should count? Type them, like 1.5 or 90分钟."))
                await helper.send_text("1.5")
                await helper.wait_for_message(t("Why? The volunteer reads it and may ask for a correction."))
                await helper.send_text(story["late"])
                await wang_qiang.wait_for_message(lambda m: m.text.startswith("✏️"), after=wang_mark, timeout=10)
                await liu_fang.send_text("/hours")
                await liu_fang.wait_for_message(lambda m: m.text.startswith("⏱"))
                # 刘芳 asks for a certificate of her service; anyone can check it by its number.
                await liu_fang.send_text("/certificate")
                certificate = await liu_fang.wait_for_message(lambda m: m.file is not None, timeout=15)

                # Done: 赵敏 resolves it; 王秀兰 confirms and rates the help.
                resident_mark = resident.mark()
                await helper.press(t("✅ Resolve"), message_id=card.message_id)
                await helper.wait_for_message(lambda m: t("✖️ Cancel") in m.buttons)
                await helper.send_text(story["summary"])
                resolved = await resident.wait_for_message(lambda m: t("⭐ Confirm and rate") in m.buttons,
                                                           after=resident_mark, timeout=10)
                helper_mark = helper.mark()
                await resident.press(t("⭐ Confirm and rate"), message_id=resolved.message_id)
                await resident.wait_for_message(lambda m: "⭐⭐⭐⭐⭐" in m.buttons)
                await resident.press("⭐⭐⭐⭐⭐")
                await resident.wait_for_message(lambda m: t("No comment") in m.buttons)
                await resident.send_text(story["comment"])
                await resident.wait_for_message(t("⭐ Thank you! Your rating helps the station do better."))
                await helper.wait_for_message(story["comment"], after=helper_mark, timeout=10)
                await emulator.settle()
            finally:
                await app.dispatcher.stop_polling()
                await asyncio.wait_for(polling, timeout=15)
            out(emulator.format_transcript())
            from pypdf import PdfReader

            out("\n" + ("证明第一页（从 PDF 中提取的文字）：" if lang == "zh_CN" else
                         "The certificate's first page (text extracted from the PDF):"))
            out(PdfReader(io.BytesIO(certificate.file.data)).pages[0].extract_text())
            async with session_factory() as session:
                number = await session.scalar(select(ServiceRequest.number))
            if lang == "zh_CN":
                out(f"\n演示结束：王秀兰的求助 {number} 由李静转给赵敏受理；志愿者张伟注册并获批准，赵敏为这个个案请志愿者，"
                    "张伟在前一天的提醒后退出，候补的王强递补；刘芳和王强签到、签退，赵敏核实了刘芳的时长、调整了王强的时长并说明理由，刘芳收到了志愿服务证明；个案办结，王秀兰评价了5星。")
            else:
                out(f"\nDemo finished: Wang Xiulan's request {number} went from Li Jing to Zhao Min; volunteer Zhang Wei "
                    "registered and was approved, Zhao Min asked volunteers for the case, Zhang Wei withdrew after the "
                    "day-before reminder and Wang Qiang moved up from the waitlist; Liu Fang and Wang Qiang checked in and "
                    "out, Zhao Min verified Liu Fang's hours and adjusted Wang Qiang's with a reason, and Liu Fang "
                    "received a certificate; the case was resolved and Wang Xiulan rated the help 5 stars.")
        await engine.dispose()
    return 0
