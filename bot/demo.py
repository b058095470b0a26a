"""`linli demo`: the sample story, played against the bundled Bot API emulator.

A temporary SQLite database gets the sample world, the real bot polls the local
emulator, and the emulator acts as the people of DESIGN.md. No token, no
network. The conversation is printed as a transcript.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from sqlalchemy import select, update

from bot.app import build_app
from bot.clock import SystemClock
from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.migrate import upgrade
from bot.services.world import seed_sample
from models import ServiceRequest, User
from tgemu import BotAPIEmulator

TOKEN = "100000:LINLI-DEMO"

STORY = {
    "zh_CN": {
        "client": "zh-hans",
        # 王秀兰 says it in a voice message (18 s), then adds a few typed words.
        "description": "上周摔了一跤，想请人帮我买菜、陪我去医院复查。",
    },
    "en": {
        "client": "en",
        "description": "I fell last week; please help me with shopping and a hospital check-up.",
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

                # Routing offers the case to 李静 (on duty in 晨光社区); she accepts it.
                offer = await worker.wait_for_message(lambda m: t("✅ Accept") in m.buttons, timeout=10)
                resident_mark = resident.mark()
                await worker.press(t("✅ Accept"), message_id=offer.message_id)
                await worker.wait_for_message(t("Timeline:"))
                await worker.wait_for_message(lambda m: m.kind == "voice")  # her voice message, re-sent
                await resident.wait_for_message(lambda m: "✅" in m.text, after=resident_mark, timeout=10)
                await emulator.settle()
            finally:
                await app.dispatcher.stop_polling()
                await asyncio.wait_for(polling, timeout=15)
            out(emulator.format_transcript())
            async with session_factory() as session:
                number = await session.scalar(select(ServiceRequest.number))
            if lang == "zh_CN":
                out(f"\n演示结束：王秀兰的求助 {number} 已由晨光社区的社工李静受理。")
            else:
                out(f"\nDemo finished: Wang Xiulan's request {number} was accepted by Li Jing, the social worker of "
                    "Chenguang Community.")
        await engine.dispose()
    return 0
