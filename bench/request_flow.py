"""Benchmark: residents filing requests through the real bot and the emulator.

Prints figures; never part of the test run. Usage:

    python bench/request_flow.py [--residents 50] [--concurrency 10] [--database-url URL]

Each resident starts the bot, picks a community and walks the whole /new flow
(10 updates) and the request is
announced to the community's social worker through the outbox. Reported:
updates handled per second, per-request latency (p50/p95, from /new to the
receipt), time until every announcement was delivered, and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db import make_engine, make_session_factory  # noqa: E402
from bot.migrate import upgrade  # noqa: E402
from bot.services.world import seed_sample  # noqa: E402
from tgemu import BotAPIEmulator  # noqa: E402

TOKEN = "200000:LINLI-BENCH"


async def one_resident(emulator: BotAPIEmulator, telegram_id: int, t) -> float:  # noqa: ANN001
    person = emulator.user(telegram_id, f"居民{telegram_id}")
    await person.send_text("/start")
    await person.wait_for_message(lambda m: "中文" in m.buttons, timeout=30)
    await person.press("中文")
    await person.wait_for_message(lambda m: "晨光社区 · 和平街道" in m.buttons, timeout=30)
    await person.press("晨光社区 · 和平街道")
    await person.wait_for_message(t("What would you like to do?"), timeout=30)
    started = time.perf_counter()
    await person.send_text("/new")
    await person.wait_for_message(lambda m: "老年人" in m.buttons, timeout=30)
    await person.press("老年人")
    await person.wait_for_message(lambda m: "康复训练" in m.buttons, timeout=30)
    await person.press("康复训练")
    await person.wait_for_message(t("Please tell us in a few words what help you need."), timeout=30)
    await person.send_text("腿伤以后需要康复训练，想请社工指导。")
    await person.wait_for_message(t("If you would like a home visit, you can send your location."), timeout=30)
    await person.tap_reply(t("Skip"))
    await person.wait_for_message(t("May the social worker call you? Tap the button to share your phone number."), timeout=30)
    await person.tap_reply(t("Skip"))
    await person.wait_for_message(lambda m: t("✅ Send request") in m.buttons, timeout=30)
    await person.press(t("✅ Send request"))
    await person.wait_for_message(t("Send /my to see how it is going."), timeout=30)
    return time.perf_counter() - started


async def main(residents: int, concurrency: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(url)
        await upgrade(engine)
        async with make_session_factory(engine)() as session, session.begin():
            world = await seed_sample(session, residents=False)
        async with BotAPIEmulator(TOKEN) as emulator:
            settings = Settings(bot_token=TOKEN, database_url=url, telegram_api_base=emulator.base_url, _env_file=None)
            # Production pacing (1 msg/s per chat) would measure the sleep, not the code.
            app = build_app(settings, engine=engine, per_chat_interval=0.0)
            polling = asyncio.create_task(app.dispatcher.start_polling(app.bot, handle_signals=False, polling_timeout=1))
            t = lambda msgid: app.i18n.gettext(msgid, locale="zh_CN")  # noqa: E731
            worker = emulator.user(world.people["li_jing"].telegram_id, "李静")
            limit = asyncio.Semaphore(concurrency)

            async def run(i: int) -> float:
                async with limit:
                    return await one_resident(emulator, 900_000 + i, t)

            began = time.perf_counter()
            latencies = await asyncio.gather(*(run(i) for i in range(residents)))
            flow_done = time.perf_counter() - began
            await worker.wait_for_message(lambda m: sum("🆕" in x.text for x in worker.messages) >= residents, after=0,
                                          timeout=120)
            all_told = time.perf_counter() - began
            updates = sum(1 for entry in emulator.transcript if entry.direction == "user")
            await app.dispatcher.stop_polling()
            await polling
        await engine.dispose()

    q = statistics.quantiles(latencies, n=20)
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"backend={backend} residents={residents} concurrency={concurrency}")
    print(f"flows completed in {flow_done:.2f}s; {updates / flow_done:.1f} updates/s ({updates} updates from residents)")
    print(f"request latency /new -> receipt: p50={statistics.median(latencies) * 1000:.0f} ms "
          f"p95={q[18] * 1000:.0f} ms max={max(latencies) * 1000:.0f} ms")
    print(f"all {residents} announcements delivered to the social worker after {all_told:.2f}s")
    print(f"peak RSS of the process (bot, emulator and clients together): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.residents, args.concurrency, args.database_url))
