"""The shared sending budget and the record of handled updates, in memory and in Redis.

The Redis cases run where REDIS_URL is set (the PostgreSQL + Redis run of `.ci/run`):
two limiter or record objects on two connections stand for two bot processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.delivery.ratelimit import LocalRateLimiter, RedisRateLimiter
from bot.updates import BUSY, DONE, LocalSeenUpdates, RedisSeenUpdates
from tests.conftest import next_telegram_id

REDIS_URL = os.environ.get("REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (the PostgreSQL + Redis run)")


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --- in one process ------------------------------------------------------------------------


async def test_the_local_budget_books_slots_thirty_a_second_and_one_a_second_per_chat() -> None:
    clock = Monotonic()
    limiter = LocalRateLimiter(30, monotonic=clock, sleep=clock.sleep)

    waits = [await limiter.reserve(chat) for chat in range(1, 61)]  # 60 chats at once
    assert waits[0] == 0
    assert waits[-1] == pytest.approx(59 / 30)
    assert all(b - a == pytest.approx(1 / 30) for a, b in zip(waits, waits[1:], strict=False))

    again = await limiter.reserve(1)  # chat 1's second message: after the queue (its second has passed by then)
    assert again == pytest.approx(60 / 30)
    clock.now += 10
    assert await limiter.reserve(7) == 0
    assert await limiter.reserve(8) == pytest.approx(1 / 30)
    start = clock.now
    assert await limiter.reserve(7) == 0, "booked once the chat was free"
    assert clock.now - start == pytest.approx(1.0), "one a second in a private chat"
    assert await limiter.reserve(9) == pytest.approx(1 / 30), "chat 7's wait held up nobody else"
    clock.now += 10
    group = -100123
    assert await limiter.reserve(group) == 0
    start = clock.now
    await limiter.reserve(group)
    assert clock.now - start == pytest.approx(3.0), "20 a minute in a group"


async def test_a_pause_stops_every_booking_and_a_direct_reply_takes_its_share() -> None:
    clock = Monotonic()
    limiter = LocalRateLimiter(10, monotonic=clock)
    await limiter.pause(4)
    assert await limiter.paused_for() == 4
    assert await limiter.reserve(5) == 4, "the first slot after the pause"
    assert await limiter.note(6) == 4, "a reply waits out the pause too"
    clock.now += 10
    assert await limiter.note(8) == 0, "a reply goes at once"
    assert await limiter.reserve(9) == pytest.approx(0.1), "and the sender leaves room for it"


async def test_the_local_record_knows_an_update_once_and_gives_a_failed_one_back() -> None:
    seen = LocalSeenUpdates()
    assert await seen.claim(10) == 0
    assert await seen.claim(10) == BUSY, "being handled: handed back, to be delivered again later"
    await seen.done(10)
    assert await seen.claim(10) == DONE, "handled: dropped"
    assert await seen.claim(11) == 0
    await seen.failed(11, 1)
    assert await seen.claim(11) == 1, "a redelivery of a failed update runs again, knowing it failed once"
    assert await seen.claim(11) == BUSY


# --- across processes, in Redis ----------------------------------------------------------------


@pytest.fixture
async def two_connections() -> AsyncIterator[tuple[Redis, Redis]]:
    assert REDIS_URL
    first, second = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    yield first, second
    keys = [key async for key in first.scan_iter(match="linli:*:7777*")]
    if keys:
        await first.delete(*keys)
    await first.aclose()
    await second.aclose()


@needs_redis
async def test_two_processes_book_from_one_budget(two_connections: tuple[Redis, Redis]) -> None:
    bot_id = 7777000 + next_telegram_id() % 1000
    a, b = (RedisRateLimiter(conn, bot_id, 30) for conn in two_connections)
    loop = asyncio.get_running_loop()

    async def slot(limiter: RedisRateLimiter, chat: int | None = None) -> float:
        wait = await limiter.reserve(chat or next_telegram_id())
        return loop.time() + wait

    slots = sorted(await asyncio.gather(*(slot(limiter) for _ in range(30) for limiter in (a, b))))
    assert slots[-1] - slots[0] == pytest.approx(59 / 30, abs=0.05), "60 messages take two seconds, whoever sends"
    gaps = [y - x for x, y in zip(slots, slots[1:], strict=False)]
    assert min(gaps) >= 1 / 30 - 0.006, "never two in one thirtieth of a second"

    await asyncio.sleep(2)
    chat = next_telegram_id()
    first = await slot(a, chat)
    second = await slot(b, chat)
    assert second - first >= 1.0 - 0.01, "one chat's second message waits a second, on the other process too"

    await a.pause(3)
    assert 2.5 < await b.paused_for() <= 3.0, "a 429 seen by one process pauses the other"
    assert await b.reserve(next_telegram_id()) >= 2.5


@needs_redis
async def test_two_processes_claim_one_update_once(two_connections: tuple[Redis, Redis]) -> None:
    bot_id = 7777000 + next_telegram_id() % 1000
    a, b = (RedisSeenUpdates(conn, bot_id) for conn in two_connections)
    update_id = next_telegram_id()
    claims = await asyncio.gather(*(seen.claim(update_id) for seen in (a, b, a, b, a)))
    assert sorted(claims) == [BUSY, BUSY, BUSY, BUSY, 0]
    await a.failed(update_id, 1)
    assert await b.claim(update_id) == 1
    await b.done(update_id)
    assert await a.claim(update_id) == DONE


async def test_without_redis_the_budget_and_the_record_fall_back_to_this_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limiter = RedisRateLimiter(unreachable, 42, 30)
    seen = RedisSeenUpdates(unreachable, 42)
    try:
        with caplog.at_level(logging.WARNING):
            assert await limiter.reserve(1) == 0
            assert await limiter.reserve(2) > 0, "still paced, by this process's own budget"
            assert await seen.claim(5) == 0
            await seen.done(5)
            assert await seen.claim(5) == DONE
    finally:
        await unreachable.aclose()
    warnings = [r.getMessage() for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 2, "one warning each, not one per call"


# --- the middleware that records updates -----------------------------------------------------------


def _update(update_id: int) -> object:
    from aiogram.types import Update

    return Update.model_validate({"update_id": update_id, "message": {
        "message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "hi",
        "from": {"id": 5, "is_bot": False, "first_name": "X"}}})


async def test_a_copy_of_an_update_still_in_hand_is_handed_back_not_dropped_for_good() -> None:
    """Its first copy may be on a replica that died mid-way: Telegram must deliver it again (503)."""
    from bot.updates import OnceMiddleware, UpdateOutcome

    seen = LocalSeenUpdates()
    await seen.claim(70)  # busy elsewhere
    ran: list[int] = []

    async def handler(event: object, data: dict) -> None:
        ran.append(1)

    outcome = UpdateOutcome()
    await OnceMiddleware(seen)(handler, _update(70), {"outcome": outcome})
    assert ran == [] and outcome.duplicate and outcome.redeliver

    await seen.done(70)
    outcome = UpdateOutcome()
    await OnceMiddleware(seen)(handler, _update(70), {"outcome": outcome})
    assert ran == [] and outcome.duplicate and not outcome.redeliver, "handled: acknowledged and dropped"


async def test_a_failure_after_a_commit_is_not_run_again() -> None:
    from types import SimpleNamespace

    from bot.transaction import COMMITTED
    from bot.updates import OnceMiddleware

    seen = LocalSeenUpdates()

    async def fails(event: object, data: dict) -> None:
        if data.get("commit_first"):
            data["session"] = SimpleNamespace(info={COMMITTED: True})
        raise RuntimeError("after the work")

    for update_id, commit_first, again in ((80, True, DONE), (81, False, 1)):
        with pytest.raises(RuntimeError):
            await OnceMiddleware(seen)(fails, _update(update_id), {"commit_first": commit_first})
        assert await seen.claim(update_id) == again
