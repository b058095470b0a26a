"""Two real bot processes in webhook mode behind a round-robin balancer, on PostgreSQL and Redis.

Nothing lost, nothing twice: a broadcast through the emulator's flood limits with 429s
injected and one replica killed with SIGKILL mid-way; one update delivered five times
to both replicas; one person's quick taps landing on both replicas; the database gone
for twenty seconds; Redis restarted mid-conversation. (Run where DATABASE_URL is
PostgreSQL and REDIS_URL is set: the second run of `.ci/run`.)
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.clock import SystemClock
from bot.db import make_engine, make_session_factory
from bot.delivery.sender import CONCURRENCY
from bot.services import users
from bot.services.notices import Notice, enqueue
from handlers.errors import STALE, UNAVAILABLE_KEPT
from models import OutgoingMessage, User
from tests.cluster import SECRET, Cluster, cluster
from tests.support import COMMUNITY_BUTTON, T, has_button
from tgemu import RateLimits

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL", "").startswith("postgresql") and os.environ.get("REDIS_URL")),
    reason="needs PostgreSQL and Redis (the second run of .ci/run)",
)

TOKEN = "777001:LINLI-REPLICAS"
CHOOSE = COMMUNITY_BUTTON[("晨光社区", "zh_CN")]
BROADCAST = "Request {number} was cancelled by the resident."
_ids = iter(range(5_000_000, 6_000_000))


@pytest.fixture(scope="module")
async def replicas(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    tmp: Path = tmp_path_factory.mktemp("replicas")
    async with cluster(TOKEN, tmp) as made:
        yield made


async def broadcast(made: Cluster, count: int) -> list[int]:
    """`count` people, each sent one notice through the outbox (as a task's offer wave does)."""
    engine = make_engine(made.database_url)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            now = SystemClock().now()
            people = []
            for _ in range(count):
                person = made.emulator.user(next(_ids), "志愿者")
                people.append(await users.touch_user(
                    session, users.TelegramProfile(person.id, "志愿者"), now=now))
            await session.flush()
            enqueue(session, *(Notice(p, BROADCAST, {"number": f"B{p.telegram_id}"}) for p in people), now=now)
        return [p.telegram_id for p in people]
    finally:
        await engine.dispose()


async def outbox_status(made: Cluster, chats: list[int]) -> Counter[str]:
    engine = make_engine(made.database_url)
    try:
        async with make_session_factory(engine)() as session:
            rows = await session.execute(
                select(OutgoingMessage.status, func.count()).where(OutgoingMessage.chat_id.in_(chats))
                .group_by(OutgoingMessage.status))
            return Counter({status.value: n for status, n in rows.all()})
    finally:
        await engine.dispose()


def received(made: Cluster, chats: list[int]) -> Counter[int]:
    """How many messages each of these people got (delivered, not refused)."""
    return Counter({chat: n for chat in chats if (n := len(made.emulator.user(chat, "志愿者").messages))})


async def test_a_2000_message_broadcast_survives_a_kill_9_within_the_limits(replicas: Cluster) -> None:
    made = replicas
    made.emulator.set_rate_limits(RateLimits())
    made.emulator.inject_error("sendMessage", error_code=429, retry_after=1, every=150, times=10)
    try:
        chats = await broadcast(made, 2000)
        first, second = made.replicas
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(received(made, chats)) < 600 and loop.time() < deadline:
            await asyncio.sleep(0.2)
        first.kill()  # kill -9 mid-broadcast: whatever it had claimed is in 'sending'
        await first.process.wait()  # type: ignore[union-attr]
        await asyncio.sleep(1)
        await first.start()  # and back

        deadline = loop.time() + 240
        while loop.time() < deadline:
            status = await outbox_status(made, chats)
            if status.get("sent", 0) == 2000:
                break
            await asyncio.sleep(1)
        assert status == Counter({"sent": 2000}), f"{status}\n{made.logs()}"
    finally:
        made.emulator.set_rate_limits(None)
        made.emulator.clear_faults()

    got = received(made, chats)
    assert set(got) == set(chats), "nobody was left out"
    delivered_twice = [chat for chat, n in got.items() if n > 1]
    # Telegram cannot be asked whether a message arrived: a message on the wire when its process was
    # killed is sent again. At most what one process had in flight; usually none.
    assert len(delivered_twice) <= CONCURRENCY, delivered_twice
    print(f"\nbroadcast: 2000 sent, {len(delivered_twice)} sent twice after kill -9")
    assert made.emulator.rate_limited == [], "Linli itself never went over Telegram's limits"
    # Sends are booked 1/30 s apart in the shared budget, and arrive when their process gets to them: a
    # replica stalled for a moment (the other one starting up takes both cores) sends its booked messages
    # together on waking. That can bring into a window at most what each replica had booked ahead (its
    # messages in flight); the budget itself never lets more through.
    assert made.emulator.sent_messages_per_window(10.0) <= 10 * 30 + 2 * CONCURRENCY + 1


def start_update(update_id: int, user_id: int, text: str = "/start") -> dict[str, Any]:
    sender = {"id": user_id, "is_bot": False, "first_name": "王秀兰", "language_code": "zh-hans"}
    message: dict[str, Any] = {"message_id": update_id % 100_000, "date": int(time.time()),
                               "chat": {"id": user_id, "type": "private", "first_name": "王秀兰"},
                               "from": sender, "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


async def post(url: str, body: dict[str, Any]) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            url + "/telegram", json=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as answer:
        return answer.status


async def test_one_update_delivered_five_times_to_both_replicas_has_one_effect(replicas: Cluster) -> None:
    made = replicas
    person = made.emulator.user(next(_ids), "王秀兰")
    body = start_update(880_000_000 + person.id % 1_000_000, person.id)
    targets = [r.base for r in made.replicas] * 3
    statuses = await asyncio.gather(*(post(url, body) for url in targets[:5]))
    assert statuses == [200] * 5
    await person.wait_for_message(has_button(CHOOSE), timeout=15)
    await asyncio.sleep(1)  # a second answer would have come by now
    assert len([m for m in person.messages if CHOOSE in m.buttons]) == 1
    engine = make_engine(made.database_url)
    try:
        async with make_session_factory(engine)() as session:
            assert await session.scalar(select(func.count(User.id)).where(User.telegram_id == person.id)) == 1
    finally:
        await engine.dispose()


async def test_one_persons_quick_taps_on_two_replicas_are_handled_in_order(replicas: Cluster) -> None:
    made = replicas
    person = made.emulator.user(next(_ids), "王秀兰")
    first, second = made.replicas
    made.emulator.delay("sendMessage", 1.5)  # the first update's reply is slow: it holds the person's lock
    base = 890_000_000 + person.id % 1_000_000
    slow = asyncio.create_task(post(first.base, start_update(base, person.id)))
    await asyncio.sleep(0.3)
    assert await post(second.base, start_update(base + 1, person.id, "/help")) == 200
    assert await slow == 200
    await person.wait_for_message(lambda m: "/my" in m.text, timeout=15)
    start_reply = next(i for i, m in enumerate(person.messages) if CHOOSE in m.buttons)
    help_reply = next(i for i, m in enumerate(person.messages) if "/my" in m.text)
    assert start_reply < help_reply, "the second tap waited for the first, on another replica"


async def test_the_database_gone_for_20_seconds_loses_nothing(replicas: Cluster) -> None:
    made = replicas
    person = made.emulator.user(next(_ids), "王秀兰")
    made.postgres_proxy.sever()
    try:
        await person.send_text("/start")
        await person.wait_for_message(T(UNAVAILABLE_KEPT), timeout=20)
        async with aiohttp.ClientSession() as http, http.get(made.replicas[0].base + "/readyz") as ready:
            assert ready.status == 503
        await asyncio.sleep(20)
        assert not any(CHOOSE in m.buttons for m in person.messages)
        assert all(r.process and r.process.returncode is None for r in made.replicas), "no crash"
    finally:
        made.postgres_proxy.restore()
    await person.wait_for_message(has_button(CHOOSE), timeout=30)
    assert len([m for m in person.messages if m.text == T(UNAVAILABLE_KEPT)]) == 1
    await person.press(CHOOSE)
    await person.wait_for_message(has_button(T("🙋 Ask for help")), timeout=15)


async def test_redis_restarted_mid_conversation_restarts_it_with_a_clear_message(replicas: Cluster) -> None:
    made = replicas
    person = made.emulator.user(next(_ids), "王秀兰")
    await person.send_text("/start")
    picker = await person.wait_for_message(has_button(CHOOSE), timeout=15)

    made.redis_proxy.sever()  # Redis goes away, and comes back empty (it keeps nothing on disk)
    try:
        await person.send_text("/help")
        await person.wait_for_message(T(UNAVAILABLE_KEPT), timeout=20)
        await made.redis.flushdb()
        assert all(r.process and r.process.returncode is None for r in made.replicas), "no crash"
    finally:
        made.redis_proxy.restore()

    # The held /help is answered once Redis is back; the picker's dialog is gone with Redis.
    await person.wait_for_message(lambda m: "/my" in m.text, timeout=30)
    query = await person.press(CHOOSE, message_id=picker.message_id)
    answer = await person.wait_for_callback_answer(query, timeout=15)
    assert answer.text == T(STALE)
    await person.send_text("/start")
    await person.wait_for_message(has_button(CHOOSE), timeout=15)


async def test_a_429_storm_is_waited_out_by_both_replicas_and_everything_arrives(replicas: Cluster) -> None:
    """retry_after of 1 to 5 s on every tenth send: every message arrives once, nobody sends during a pause."""
    import re

    made = replicas
    made.emulator.inject_error("sendMessage", error_code=429, retry_after=[1, 2, 3, 4, 5], every=10, times=10)
    try:
        chats = await broadcast(made, 100)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 150
        while loop.time() < deadline:
            status = await outbox_status(made, chats)
            if status.get("sent", 0) == 100:
                break
            await asyncio.sleep(0.5)
        assert status == Counter({"sent": 100}), f"{status}\n{made.logs()}"
    finally:
        made.emulator.clear_faults()

    got = received(made, chats)
    assert set(got) == set(chats) and set(got.values()) == {1}, "each once"
    refused = {id(f.params): int(re.search(r"retry after (\d+)", f.description).group(1))  # type: ignore[union-attr]
               for f in made.emulator.failures if f.error_code == 429 and f.params.get("chat_id") is not None}
    wanted = {str(chat) for chat in chats}
    sends = [c for c in made.emulator.calls if c.method == "sendMessage" and str(c.chat_id) in wanted]
    storms = [(c.at, refused[id(c.params)]) for c in sends if id(c.params) in refused]
    assert len(storms) == 10
    for at, retry_after in storms:
        # A send already on the wire when the 429 came back may land just after it (0.25 s grace).
        during = [c for c in sends if at + 0.25 < c.at < at + retry_after - 0.05]
        assert during == [], f"sent during a {retry_after}s pause"
    assert made.emulator.rate_limited == []
