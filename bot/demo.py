"""`linli demo`: the sample story, played against the bundled Bot API emulator.

A temporary SQLite database gets the sample world, the real bot polls the local
emulator, and the emulator acts as the people of DESIGN.md. No token, no
network. The conversation is printed as a transcript: a request filed, routed,
declined and re-routed, accepted, a message exchange, resolved and rated.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from bot.app import build_app
from bot.clock import SystemClock
from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.migrate import upgrade
from bot.services.world import seed_sample
from models import ServiceRequest, SupportAssignment, User
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
    },
    "en": {
        "client": "en",
        "description": "I fell last week; please help me with shopping and a hospital check-up.",
        "message": "Hello Mrs Wang, this is Zhao Min. May a volunteer and I visit tomorrow at 10 am?",
        "reply": "Yes, thank you!",
        "summary": "A volunteer now shops for you on Tuesdays and Fridays and will take you to the check-up on Friday.",
        "comment": "Very patient and kind, thank you!",
    },
}


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
            # 赵敏 of 桃园社区 supports 晨光社区 this month (the policy's "three areas plan").
            today = SystemClock().now().date()
            session.add(SupportAssignment(worker_id=world.people["zhao_min"].id,
                                          community_id=world.communities["晨光社区"].id, starts_on=today,
                                          ends_on=today + timedelta(days=30), created_at=SystemClock().now()))

        async with BotAPIEmulator(TOKEN) as emulator:
            settings = Settings(
                bot_token=TOKEN, database_url=database_url, telegram_api_base=emulator.base_url, _env_file=None
            )
            app = build_app(settings, engine=engine, per_chat_interval=0.05)
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
            async with session_factory() as session:
                number = await session.scalar(select(ServiceRequest.number))
            if lang == "zh_CN":
                out(f"\n演示结束：王秀兰的求助 {number} 由李静转给赵敏受理、办结，王秀兰评价了5星。")
            else:
                out(f"\nDemo finished: Wang Xiulan's request {number} went from Li Jing to Zhao Min, who resolved it; "
                    "Wang Xiulan rated the help 5 stars.")
        await engine.dispose()
    return 0
