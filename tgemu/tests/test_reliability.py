"""Flood limits, injected errors and latency, concurrent webhook delivery, re-sent updates."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiohttp import web

from tgemu import ApiError, BotAPIEmulator, RateLimitHit, RateLimits
from tgemu.limits import RateLimiter, TokenBucket, busiest_window, is_message_send

pytestmark = pytest.mark.asyncio


class FakeClock:
    """A monotonic clock the test moves by hand, so buckets refill without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def raw_call(emulator: BotAPIEmulator, method: str, **params: object) -> tuple[int, dict]:
    """One request over HTTP, answered with the status and the JSON body as sent."""
    async with aiohttp.ClientSession() as http:
        url = f"{emulator.base_url}/bot{emulator.token}/{method}"
        async with http.post(url, json=params) as response:
            return response.status, await response.json()


# ---------------------------------------------------------------------------
# The buckets, without a server
# ---------------------------------------------------------------------------


async def test_token_bucket_bursts_then_refills() -> None:
    bucket = TokenBucket(capacity=3, rate=1.0, now=0.0)
    for _ in range(3):
        assert bucket.wait(0.0) == 0
        bucket.take(0.0)
    assert bucket.wait(0.0) == pytest.approx(1.0)
    assert bucket.wait(0.25) == pytest.approx(0.75)
    assert bucket.wait(1.0) == 0
    bucket.give_back(100.0)
    assert bucket.tokens == 3  # never above capacity


async def test_limiter_per_chat_global_and_group_buckets() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(), clock=clock)

    # A private chat: a burst of 3, then one per second.
    assert [limiter.acquire(7) for _ in range(4)] == [0, 0, 0, 1]
    clock.advance(0.5)
    assert limiter.acquire("7") == 1  # the same chat, given as a string; half a token is not one
    clock.advance(0.5)
    assert limiter.acquire(7) == 0
    assert limiter.acquire(7) == 1

    # A refused call takes nothing: asking again and again does not push the wait back.
    clock.advance(0.999)
    for _ in range(10):
        assert limiter.acquire(7) == 1
    clock.advance(0.001)
    assert limiter.acquire(7) == 0

    # The whole bot: 30 at once across chats, then 30 per second.
    clock.advance(10)
    assert [limiter.acquire(100 + n) for n in range(30)] == [0] * 30
    assert limiter.acquire(200) == 1
    clock.advance(1 / 30)
    assert limiter.acquire(200) == 0

    # A group (negative id or @username): 20 at once, then one every 3 s.
    clock.advance(10)
    assert [limiter.acquire(-100500) for _ in range(20)] == [0] * 20
    assert limiter.acquire(-100500) == 3
    clock.advance(2.5)
    assert limiter.acquire(-100500) == 1  # ceil(0.5)
    assert [limiter.acquire("@Channel") for _ in range(20)] == [0] * 20
    assert limiter.acquire("@channel") == 3

    # A granted call that sent nothing gives its tokens back.
    clock.advance(10)
    assert [limiter.acquire(8) for _ in range(3)] == [0, 0, 0]
    limiter.release(8)
    assert limiter.acquire(8) == 0
    assert limiter.acquire(8) == 1


async def test_limits_are_validated_and_cover_only_message_sends() -> None:
    with pytest.raises(ValueError, match="per_second must be positive"):
        RateLimits(per_second=0)
    with pytest.raises(ValueError, match="per_chat_burst must be at least 1"):
        RateLimits(per_chat_burst=0.5)
    sends = ["sendMessage", "sendPhoto", "sendMediaGroup", "forwardMessage", "copyMessages"]
    assert all(is_message_send(method) for method in sends)
    others = ["sendChatAction", "editMessageText", "answerCallbackQuery", "getUpdates", "deleteMessage"]
    assert not any(is_message_send(method) for method in others)


async def test_busiest_window() -> None:
    assert busiest_window([], 1.0) == 0
    evenly = [n / 30 for n in range(90)]
    assert busiest_window(evenly, 1.0) == 30  # [t, t + 1) holds 30 of them, not 31
    assert busiest_window([5.0, 0.0, 0.5, 0.9, 5.2], 1.0) == 3


# ---------------------------------------------------------------------------
# Flood limits through the server
# ---------------------------------------------------------------------------


async def test_rate_limits_answer_429_like_telegram(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    await bot.send_message(user.id, "before: no limits")

    clock = FakeClock()
    emulator.set_rate_limits(RateLimits(), clock=clock)
    for n in range(3):
        await bot.send_message(user.id, f"burst {n}")
    status, body = await raw_call(emulator, "sendMessage", chat_id=user.id, text="one too many")
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(user.id, "still too many")
    assert flood.value.retry_after == 1
    assert [m.text for m in user.messages] == ["before: no limits", "burst 0", "burst 1", "burst 2"]

    # Edits, chat actions and callback answers use no message tokens.
    for n in range(5):
        await bot.edit_message_text(f"edited {n}", chat_id=user.id, message_id=1)
        await bot.send_chat_action(user.id, "typing")

    # A send refused for another reason does not use up the chat's token either.
    clock.advance(1)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(user.id, "")
    await bot.send_message(user.id, "after a second")

    emulator.inject_error("sendMessage", retry_after=9)
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(user.id, "injected")
    assert emulator.rate_limited == [
        RateLimitHit("sendMessage", user.id, 1, clock.now - 1),
        RateLimitHit("sendMessage", user.id, 1, clock.now - 1),
    ]
    assert [f.error_code for f in emulator.failures] == [429, 429, 400, 429]

    emulator.set_rate_limits(None)
    for n in range(5):
        await bot.send_message(user.id, f"off again {n}")
    assert len(emulator.rate_limited) == 2


async def test_the_bot_wide_limit_spans_chats(emulator: BotAPIEmulator) -> None:
    users = [emulator.user(1000 + n, f"U{n}") for n in range(31)]
    emulator.set_rate_limits(RateLimits(), clock=FakeClock())
    for user in users[:30]:
        await emulator.call("sendMessage", chat_id=user.id, text="news")
    with pytest.raises(ApiError) as flood:
        await emulator.call("sendMessage", chat_id=users[30].id, text="news")
    assert flood.value.error_code == 429 and flood.value.retry_after == 1
    assert users[30].messages == []
    assert [(hit.method, hit.chat_id) for hit in emulator.rate_limited] == [("sendMessage", users[30].id)]


async def test_calls_record_arrival_and_chat_and_the_busiest_second(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    before = time.monotonic()
    await bot.get_me()
    await bot.send_message(user.id, "one")
    await raw_call(emulator, "sendMessage", chat_id=str(user.id), text="two")
    await bot.send_chat_action(user.id, "typing")
    with pytest.raises(TelegramBadRequest):
        await bot.send_message(user.id, "")
    calls = emulator.calls
    assert [(call.method, call.chat_id) for call in calls] == [
        ("getMe", None),
        ("sendMessage", user.id),
        ("sendMessage", user.id),  # sent as "42" in JSON
        ("sendChatAction", user.id),
        ("sendMessage", user.id),
    ]
    assert before <= calls[0].at <= calls[1].at <= calls[-1].at <= time.monotonic()
    # Only the two messages that were sent count.
    assert emulator.sent_messages_per_window() == 2
    await asyncio.sleep(0.2)
    await bot.send_message(user.id, "three")
    assert emulator.sent_messages_per_window(0.15) == 2
    assert emulator.sent_messages_per_window(60) == 3
    with pytest.raises(ValueError):
        emulator.sent_messages_per_window(0)


# ---------------------------------------------------------------------------
# Injected errors and latency
# ---------------------------------------------------------------------------


async def test_every_tenth_call_fails_with_rotating_retry_after(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    emulator.set_rate_limits(RateLimits(burst=100, per_chat_burst=100), clock=FakeClock())
    emulator.inject_error("sendMessage", every=10, times=4, retry_after=[1, 2, 3])
    outcomes: list[int] = []
    for n in range(1, 51):
        try:
            await bot.send_message(user.id, f"#{n}")
            outcomes.append(0)
        except TelegramRetryAfter as flood:
            outcomes.append(flood.retry_after)
    failed = {n: wait for n, wait in enumerate(outcomes, start=1) if wait}
    assert failed == {10: 1, 20: 2, 30: 3, 40: 1}  # then `times` is used up
    assert len(user.messages) == 46
    assert emulator.rate_limited == []  # injected, not the limiter's

    emulator.inject_error("sendMessage", error_code=502, every=2, times=100)
    await bot.send_message(user.id, "first passes")
    with pytest.raises(Exception, match="Bad Gateway"):
        await bot.send_message(user.id, "second fails")
    emulator.clear_faults()
    for _ in range(4):
        await bot.send_message(user.id, "the storm is over")

    with pytest.raises(ValueError):
        emulator.inject_error("sendMessage", every=0)
    with pytest.raises(ValueError):
        emulator.inject_error("sendMessage", retry_after=[])


async def test_delay_slows_one_method_without_blocking_others(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    emulator.delay("SendMessage", 0.4, times=2)
    started = time.monotonic()
    slow = asyncio.create_task(bot.send_message(user.id, "slow"))
    await asyncio.sleep(0.05)
    await bot.get_me()
    await bot.send_chat_action(user.id, "typing")
    assert time.monotonic() - started < 0.3 and not slow.done()
    await slow
    assert time.monotonic() - started >= 0.4

    started = time.monotonic()
    await bot.send_message(user.id, "slow again")
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    await bot.send_message(user.id, "fast")
    assert time.monotonic() - started < 0.3

    emulator.delay("sendMessage", 5)
    emulator.clear_faults("sendMessage")
    started = time.monotonic()
    await bot.send_message(user.id, "fast after clear_faults")
    assert time.monotonic() - started < 0.3
    with pytest.raises(ValueError):
        emulator.delay("sendMessage", -1)


# ---------------------------------------------------------------------------
# Webhook delivery
# ---------------------------------------------------------------------------

Hook = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def webhook_server(hook: Hook) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_webhook_uses_up_to_max_connections(emulator: BotAPIEmulator, bot: Bot) -> None:
    release = asyncio.Event()
    in_flight = 0
    most = 0
    secrets: set[str | None] = set()
    texts: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        update = await request.json()
        secrets.add(request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        in_flight += 1
        most = max(most, in_flight)
        await release.wait()
        in_flight -= 1
        texts.append(update["message"]["text"])
        return web.Response()

    async with webhook_server(hook) as url:
        user = emulator.user(42, "Li")
        assert await bot.set_webhook(url, secret_token="s3cr3t")
        assert (await bot.get_webhook_info()).max_connections == 40
        assert await bot.set_webhook(url, secret_token="s3cr3t", max_connections=5)
        for n in range(8):
            await user.send_text(f"#{n}")
        try:
            await wait_until(lambda: in_flight == 5)
            await asyncio.sleep(0.1)
            assert in_flight == 5  # the other three wait for a free connection
            assert (await bot.get_webhook_info()).pending_update_count == 8
        finally:
            release.set()
        await emulator.settle(quiet=0.05)
        assert most == 5 and sorted(texts) == [f"#{n}" for n in range(8)]
        assert secrets == {"s3cr3t"}
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 0 and info.last_error_date is None


async def test_a_failing_update_is_retried_without_holding_up_the_rest(emulator: BotAPIEmulator, bot: Bot) -> None:
    attempts: dict[str, int] = {}
    delivered: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        text = (await request.json())["message"]["text"]
        attempts[text] = attempts.get(text, 0) + 1
        if text == "poison" and attempts[text] <= 3:
            return web.Response(status=502, reason="Bad Gateway")
        delivered.append(text)
        return web.Response()

    async with webhook_server(hook) as url:
        user = emulator.user(42, "Li")
        assert await bot.set_webhook(url, max_connections=1)
        await user.send_text("poison")
        await wait_until(lambda: attempts.get("poison") == 1)
        for n in range(3):
            await user.send_text(f"fine {n}")
        # One connection, yet the update in back-off does not keep the others waiting.
        await wait_until(lambda: len(delivered) == 3, timeout=1.0)
        assert delivered == ["fine 0", "fine 1", "fine 2"]
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 1
        assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"
        assert info.last_error_date is not None
        await emulator.settle(quiet=0.05)
        assert delivered[-1] == "poison" and attempts["poison"] == 4
        assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_redeliver_resends_an_update_by_webhook(emulator: BotAPIEmulator, bot: Bot) -> None:
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response()

    async with webhook_server(hook) as url:
        user = emulator.user(42, "Li")
        assert await bot.set_webhook(url)
        await user.send_text("pay 10 yuan")
        await emulator.settle(quiet=0.05)
        first = user.last_update_id
        assert first is not None
        emulator.redeliver(first, times=2)
        await emulator.settle(quiet=0.05)
        assert [u["update_id"] for u in received] == [first] * 3
        assert received[1] == received[0] == received[2]
        with pytest.raises(ValueError):
            emulator.redeliver(first + 100)
        with pytest.raises(ValueError):
            emulator.redeliver(first, times=0)


async def test_redeliver_resends_an_update_to_a_poller(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    await user.send_text("one")
    await user.send_text("two")
    [one, two] = user.update_ids
    assert [u.update_id for u in await bot.get_updates()] == [one, two]
    assert await bot.get_updates(offset=two + 1) == []

    # The copy comes back although the bot's offset is past it, in update_id order,
    # so the offset aiogram computes from the batch still confirms the newer update.
    emulator.redeliver(one)
    await user.send_text("three")
    batch = await bot.get_updates(offset=two + 1)
    assert [(u.update_id, u.message.text) for u in batch] == [(one, "one"), (two + 1, "three")]
    assert await bot.get_updates(offset=batch[-1].update_id + 1) == []
    await emulator.settle(quiet=0.05)
