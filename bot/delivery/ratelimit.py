"""One sending budget for the whole bot, however many processes send.

Telegram allows a bot about 30 messages a second overall, about one a second in a
private chat and 20 a minute in a group, and answers 429 with `retry_after` beyond
that. Every process of Linli (the outbox sender, and direct replies) takes its turn
from one budget:

* `reserve(chat_id)` books the next free slot: the later of now, the bot's next slot
  and the end of a pause; it moves the bot's and the chat's next slot on by one
  interval and says how long to wait for the booked slot. Booking ahead keeps the order
  fair among processes without polling. A chat that may not have another message yet
  books nothing (a slot a second away would hold up every other chat): `reserve` waits
  until the chat is free and books then;
* `note(chat_id)` books a slot for a direct reply, which goes out at once (a person is
  waiting; Telegram tolerates a short burst) but moves the budget on, so the sender
  leaves room for it;
* `pause(seconds)` stops everyone after a 429, for as long as Telegram asked.

`RedisRateLimiter` keeps the slots in Redis and books them in one Lua script, on
Redis's own clock, so processes on different hosts agree. `LocalRateLimiter` does the
same in memory for a single process (no REDIS_URL). When Redis cannot be reached the
Redis limiter falls back to its local twin with one logged warning, and goes back to
Redis when it answers again: sending slows down or speeds up, it never stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Telegram's published limits.
GLOBAL_RATE = 30.0  # messages a second for the whole bot
CHAT_INTERVAL = 1.0  # seconds between two messages in one private chat
GROUP_INTERVAL = 3.0  # seconds between two messages in one group (20 a minute)


def chat_interval(chat_id: int | None, private: float = CHAT_INTERVAL, group: float = GROUP_INTERVAL) -> float:
    """Seconds between two messages to this chat: groups and channels have negative ids."""
    if chat_id is None:
        return 0.0
    return group if chat_id < 0 else private


class RateLimiter(Protocol):
    async def reserve(self, chat_id: int | None) -> float:
        """Book the next slot for a message to `chat_id`; returns the seconds to wait for it."""

    async def note(self, chat_id: int | None) -> float:
        """Book a slot for a message sent at once; returns the seconds still paused (0 when not)."""

    async def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` (Telegram answered 429 with this `retry_after`)."""

    async def paused_for(self) -> float:
        """Seconds left of a pause, 0 when sending may go on."""


class LocalRateLimiter:
    """The budget of one process, in memory."""

    def __init__(self, rate: float = GLOBAL_RATE, *, private_interval: float = CHAT_INTERVAL,
                 group_interval: float = GROUP_INTERVAL, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = 1.0 / rate
        self._sleep = sleep
        self.private_interval = private_interval
        self.group_interval = group_interval
        self._monotonic = monotonic
        self._next = 0.0
        self._pause_until = 0.0
        self._chats: dict[int, float] = {}

    def _book(self, chat_id: int | None, *, wait: bool) -> float:
        """Seconds to the booked slot; negative: the chat is not free for that long, nothing booked."""
        now = self._monotonic()
        start = max(now, self._pause_until)
        if wait:
            start = max(start, self._next)
            chat_free = self._chats.get(chat_id, 0.0) if chat_id is not None else 0.0
            if chat_free > start:
                return -(chat_free - now)
        self._next = max(self._next, start) + self.interval
        if chat_id is not None:
            self._chats[chat_id] = max(self._chats.get(chat_id, 0.0), start) + chat_interval(
                chat_id, self.private_interval, self.group_interval)
            if len(self._chats) > 10_000:  # forget chats whose slot has passed
                self._chats = {c: t for c, t in self._chats.items() if t > now}
        return start - now

    async def reserve(self, chat_id: int | None) -> float:
        while (wait := self._book(chat_id, wait=True)) < 0:
            await self._sleep(-wait)
        return wait

    async def note(self, chat_id: int | None) -> float:
        return self._book(chat_id, wait=False)

    async def pause(self, seconds: float) -> None:
        self._pause_until = max(self._pause_until, self._monotonic() + seconds)

    async def paused_for(self) -> float:
        return max(0.0, self._pause_until - self._monotonic())


# KEYS: bot slot, chat slot (or the bot slot again when there is no chat), pause.
# ARGV: bot interval µs, chat interval µs, wait (1 = book the next free slot, 0 = now). Times are in
# microseconds on Redis's clock (exact in Lua's doubles).
# Returns the microseconds to wait for the booked slot (0 = now), or minus the microseconds until the
# chat is free (nothing booked). A slot key is forgotten a minute
# after it was booked: by then it limits nothing.
_BOOK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(redis.call('GET', KEYS[3]) or '0')
local start = math.max(now, pause)
local bot_next = tonumber(redis.call('GET', KEYS[1]) or '0')
local chat_next = 0
if KEYS[2] ~= KEYS[1] then chat_next = tonumber(redis.call('GET', KEYS[2]) or '0') end
if ARGV[3] == '1' then
  start = math.max(start, bot_next)
  if chat_next > start then return now - chat_next end
end
redis.call('SET', KEYS[1], math.max(bot_next, start) + tonumber(ARGV[1]), 'PX', 60000)
if KEYS[2] ~= KEYS[1] then
  redis.call('SET', KEYS[2], math.max(chat_next, start) + tonumber(ARGV[2]), 'PX', 60000)
end
return start - now
"""

# KEYS: pause. ARGV: microseconds. Extends the pause, never shortens it.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then
  redis.call('SET', KEYS[1], until_ms, 'PX', math.floor(tonumber(ARGV[1]) / 1000) + 1000)
end
return 0
"""

# KEYS: pause. Returns the microseconds of pause left.
_PAUSED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
return math.max(0, current - now)
"""


class RedisRateLimiter:
    """The budget of every process of one bot, in Redis (keys `linli:rate:<bot id>:…`)."""

    def __init__(self, redis: Redis, bot_id: int, rate: float = GLOBAL_RATE, *,
                 private_interval: float = CHAT_INTERVAL, group_interval: float = GROUP_INTERVAL) -> None:
        self.redis = redis
        # Rounded up: the budget is never exceeded by rounding (30/s is 33,334 µs apart).
        self.interval_us = max(1, math.ceil(1_000_000 / rate))
        self.private_interval = private_interval
        self.group_interval = group_interval
        prefix = f"linli:rate:{bot_id}"
        self._bot_key = f"{prefix}:bot"
        self._pause_key = f"{prefix}:pause"
        self._chat_prefix = f"{prefix}:chat:"
        self._book = redis.register_script(_BOOK)
        self._pause = redis.register_script(_PAUSE)
        self._paused = redis.register_script(_PAUSED)
        self.local = LocalRateLimiter(rate, private_interval=private_interval, group_interval=group_interval)
        self._degraded = False

    def _fallback(self, error: RedisError) -> None:
        if not self._degraded:
            log.warning("Redis unreachable (%s): sending keeps to this process's own budget until it is back", error)
            self._degraded = True

    def _recovered(self) -> None:
        if self._degraded:
            log.warning("Redis reachable again: sending keeps to the shared budget")
            self._degraded = False

    async def _booked(self, chat_id: int | None, wait: bool) -> float:
        chat_key = self._bot_key if chat_id is None else f"{self._chat_prefix}{chat_id}"
        chat_us = math.ceil(chat_interval(chat_id, self.private_interval, self.group_interval) * 1_000_000)
        while True:
            try:
                waited = int(await self._book(keys=[self._bot_key, chat_key, self._pause_key],
                                              args=[self.interval_us, chat_us, 1 if wait else 0]))
            except RedisError as error:
                self._fallback(error)
                return await (self.local.reserve(chat_id) if wait else self.local.note(chat_id))
            self._recovered()
            if waited >= 0:
                return waited / 1_000_000
            await asyncio.sleep(-waited / 1_000_000)  # the chat is not free yet: book once it is

    async def reserve(self, chat_id: int | None) -> float:
        return await self._booked(chat_id, wait=True)

    async def note(self, chat_id: int | None) -> float:
        return await self._booked(chat_id, wait=False)

    async def pause(self, seconds: float) -> None:
        await self.local.pause(seconds)  # this process stops at once, whatever Redis says
        try:
            await self._pause(keys=[self._pause_key], args=[max(1, math.ceil(seconds * 1_000_000))])
        except RedisError as error:
            self._fallback(error)

    async def paused_for(self) -> float:
        local = await self.local.paused_for()
        try:
            shared = int(await self._paused(keys=[self._pause_key])) / 1_000_000
        except RedisError as error:
            self._fallback(error)
            return local
        return max(local, shared)
