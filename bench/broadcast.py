"""Broadcast rate and outbox latency with two replicas in webhook mode.

    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/broadcast.py [--messages 2000] [--replicas 2] [--idle 100]

Starts the replicas as their own processes (tests/cluster.py: their own database and
Redis number, the emulator with Telegram's flood limits on) and prints:

* the sustained broadcast rate: `--messages` notices committed at once to the outbox,
  sent by every replica from the shared budget; the rate is counted over the sends
  themselves (first to last) and against the 30/s limit; 429s caused by Linli itself
  (the emulator's limiter) must be zero;
* outbox latency when idle: `--idle` single notices, one at a time, each committed
  the way a handler's transaction does (which wakes that process's sender), to the
  emulator receiving the sendMessage (p50, p99). The committing process here is an
  in-process App beside the replicas; a commit from outside any Linli process waits
  for the next poll of some replica's sender (every 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.clock import SystemClock  # noqa: E402
from bot.db import make_engine, make_session_factory  # noqa: E402
from bot.services import users  # noqa: E402
from bot.services.notices import Notice, enqueue  # noqa: E402
from tests.cluster import cluster  # noqa: E402
from tgemu import RateLimits  # noqa: E402

TEXT = "Request {number} was cancelled by the resident."


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(messages: int, replicas: int, idle: int) -> None:
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        async with cluster("778001:LINLI-BENCH", Path(tmp), replicas=replicas, redis_db=10,
                           database="linli_bench_broadcast") as made:
            emulator = made.emulator
            emulator.set_rate_limits(RateLimits())
            engine = make_engine(made.database_url)
            factory = make_session_factory(engine)
            ids = iter(range(8_000_000, 9_000_000))

            async def people(count: int) -> list:
                async with factory() as session, session.begin():
                    made_people = []
                    for _ in range(count):
                        person = emulator.user(next(ids), "志愿者")
                        made_people.append(await users.touch_user(
                            session, users.TelegramProfile(person.id, "志愿者"), now=SystemClock().now()))
                    return made_people

            def sends(chats: set[int]) -> list[float]:
                return sorted(c.at for c in emulator.calls if c.method == "sendMessage" and c.chat_id in chats)

            # Broadcast.
            crowd = await people(messages)
            chats = {p.telegram_id for p in crowd}
            async with factory() as session, session.begin():
                enqueue(session, *(Notice(p, TEXT, {"number": str(p.telegram_id)}) for p in crowd),
                        now=SystemClock().now())
            committed = time.monotonic()
            while len(sends(chats)) < messages:
                await asyncio.sleep(0.2)
            times = sends(chats)
            span = times[-1] - times[0]
            rate = (len(times) - 1) / span
            print(f"broadcast: {messages} messages by {replicas} replicas in {span:.1f} s after the first "
                  f"({times[-1] - committed:.1f} s after the commit): {rate:.2f} messages/s (limit 30/s, "
                  f"{rate / 30:.1%}); busiest second {emulator.sent_messages_per_window(1.0)}; "
                  f"429 from the limiter: {len(emulator.rate_limited)}")

            # Idle latency: a process that commits a notice wakes its own sender.
            from bot.app import build_app
            from bot.config import Settings

            settings = Settings(bot_token="778001:LINLI-BENCH", database_url=made.database_url,
                                telegram_api_base=emulator.base_url, _env_file=None)
            app = build_app(settings, engine=make_engine(made.database_url))
            app.sender.start()
            loners = await people(idle)
            await asyncio.sleep(2)
            latencies = []
            for person in loners:
                async with factory() as session, session.begin():
                    enqueue(session, Notice(person, TEXT, {"number": "idle"}), now=SystemClock().now())
                start = time.monotonic()
                app.sender.wake()  # what bot/transaction.py does after a commit that wrote notices
                while not sends({person.telegram_id}):
                    await asyncio.sleep(0.001)
                latencies.append((sends({person.telegram_id})[0] - start) * 1000)
                await asyncio.sleep(0.05)
            print(f"outbox latency when idle (commit to send), {idle} notices: p50 "
                  f"{statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
                  f"max {max(latencies):.1f} ms")
            await app.sender.stop()
            await app.engine.dispose()
            await app.bot.session.close()
            await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--idle", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.replicas, args.idle))
