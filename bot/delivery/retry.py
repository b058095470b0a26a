"""Direct replies survive a busy Telegram.

aiogram raises `TelegramRetryAfter` once on a 429 and the reply is lost with the
handler. This request middleware on the Bot's session waits `retry_after` and
tries again, and retries 5xx answers and network errors with bounded
exponential backoff (aiogram's own `Backoff`). It runs inside
`CommitBeforeSend`, so the user's action is committed once, before the first
attempt, and never rolled back by a reply that needed a second try.

One warning is logged per call that needed retrying, not one per attempt.

Replies share the bot's sending budget with the outbox sender (bot/delivery/ratelimit.py):
a reply that puts a message in a chat books its slot (it goes out at once, and the sender
leaves room for it), waits out a pause that a 429 anywhere in the bot started, and a 429
on a reply pauses the sender of every process for as long as Telegram asked.

A message must not arrive twice: a call that *sends* something is repeated after
a network error only when the connection was never made (a timed-out or dropped
request may have reached Telegram). All attempts together stay within a time
budget shorter than the per-person lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.utils.backoff import Backoff, BackoffConfig

from bot.delivery.ratelimit import RateLimiter
from bot.metrics import Metrics
from bot.transaction import current_session

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

REPLY_BACKOFF = BackoffConfig(min_delay=0.5, max_delay=8.0, factor=2.0, jitter=0.1)


# Methods whose second arrival would show the person something twice.
_SENDING = ("Send", "Forward", "Copy")


def _safe_to_repeat(method: TelegramMethod[Any], error: TelegramNetworkError) -> bool:
    """Whether repeating the call after this network error cannot duplicate a message."""
    if not type(method).__name__.startswith(_SENDING):
        return True  # edits, answers, deletions and reads do the same thing twice
    # The connection was never made (refused, DNS): the request never left.
    return isinstance(error.__cause__, aiohttp.ClientConnectorError)


class RetryRequestMiddleware(BaseRequestMiddleware):
    def __init__(
        self,
        *,
        attempts: int = 4,
        max_retry_after: float = 30.0,
        budget: float = 45.0,
        backoff: BackoffConfig = REPLY_BACKOFF,
        sleep: Sleep = asyncio.sleep,
        limiter: RateLimiter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.limiter = limiter
        self.metrics = metrics
        self.attempts = attempts
        # A person is waiting for this reply: beyond this, give up rather than hang.
        self.max_retry_after = max_retry_after
        self.budget = budget
        self.backoff = backoff
        self.sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        # Only replies made while handling an update: the polling loop has its own
        # backoff, and the outbox sender reschedules a message instead of waiting.
        if isinstance(method, GetUpdates) or current_session() is None:
            return await make_request(bot, method)
        backoff = Backoff(self.backoff)
        started = time.monotonic()
        waited = 0.0
        sending = type(method).__name__.startswith(_SENDING)
        if sending and self.limiter is not None:
            chat_id = getattr(method, "chat_id", None)
            paused = await self.limiter.note(chat_id if isinstance(chat_id, int) else None)
            if 0 < paused <= self.max_retry_after:
                await self.sleep(paused)
                waited += paused
        warned = False
        attempt = 1
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                delay = float(exc.retry_after)
                if self.metrics is not None:
                    self.metrics.rate_limited.labels("reply").inc()
                if self.limiter is not None:
                    await self.limiter.pause(delay)
                if attempt >= self.attempts or waited + delay > self.max_retry_after:
                    raise
                reason = f"429, retry after {exc.retry_after}s"
            except TelegramServerError as exc:
                if attempt >= self.attempts:
                    raise
                delay = next(backoff)
                reason = f"{type(exc).__name__}: {exc.message}"
            except TelegramNetworkError as exc:
                if attempt >= self.attempts or not _safe_to_repeat(method, exc):
                    raise
                delay = next(backoff)
                reason = f"{type(exc).__name__}: {exc.message}"
            # Real time spent (request timeouts included), and at least what was slept.
            elapsed = max(time.monotonic() - started, waited)
            if elapsed + delay > self.budget:
                raise TelegramNetworkError(method, f"gave up after {attempt} attempts ({reason})")
            if not warned:
                log.warning("%s failed (%s); retrying", type(method).__name__, reason)
                warned = True
            await self.sleep(delay)
            waited += delay
            attempt += 1
