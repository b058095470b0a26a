"""A local Telegram Bot API server for demos, tests and benchmarks.

Point aiogram at it with
``AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))`` and act
as users through :meth:`BotAPIEmulator.user`::

    async with BotAPIEmulator() as emulator:
        bot = Bot(emulator.token, session=AiohttpSession(
            api=TelegramAPIServer.from_base(emulator.base_url)))
        user = emulator.user(1001, "王秀兰")
        await user.send_command("start")
        reply = await user.wait_for_message("欢迎")
        await user.press("新建求助")

The server implements the subset of the Bot API the Linli bot, its tests and
demo use, with Telegram's limits and error texts (checked against the sources
of the Bot API server and tdlib), so failures surface as the same aiogram
exceptions they would raise in production: entity parsing errors, "message is
not modified", the 4096/1024-character and 64-byte limits, 403 for users who
blocked the bot, per-scope and per-language command menus.

Reliability tests can make it behave like Telegram under load:

* flood limits, off by default: ``emulator.set_rate_limits(RateLimits())``
  answers 429 ``retry after N`` past 30 messages/s per bot, about 1/s per
  private chat (bursts of 3) and 20/min per group; refusals are listed in
  :attr:`BotAPIEmulator.rate_limited`, and
  :meth:`BotAPIEmulator.sent_messages_per_window` shows the busiest second;
* injected errors (:meth:`BotAPIEmulator.inject_error`), the next N calls or
  every k-th call, with ``retry_after`` values taken in turn, and injected
  latency (:meth:`BotAPIEmulator.delay`), both ended by ``clear_faults()``;
* webhooks delivered over up to ``max_connections`` concurrent requests, each
  update confirmed or retried on its own, and updates re-sent on demand
  (:meth:`BotAPIEmulator.redeliver`) to check that the bot de-duplicates.

Every :class:`ApiCall` carries its arrival time and ``chat_id``.

Deliberately not emulated: group chats, legacy ``parse_mode=Markdown`` and
files sent by HTTP URL (both refused with a plain "tgemu does not..." error),
and methods nothing here calls (they answer 404 like unknown methods).
"""

from .errors import ApiError
from .limits import RateLimits
from .media import StoredFile
from .models import ApiCall, ApiFailure, BotMessage, CallbackAnswer, RateLimitHit, TranscriptEntry
from .server import BotAPIEmulator
from .user import EmulatedUser

__all__ = [
    "ApiCall",
    "ApiError",
    "ApiFailure",
    "BotAPIEmulator",
    "BotMessage",
    "CallbackAnswer",
    "EmulatedUser",
    "RateLimitHit",
    "RateLimits",
    "StoredFile",
    "TranscriptEntry",
]
