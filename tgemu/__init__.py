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

The server implements the subset of the Bot API the Linli bot uses with
Telegram's limits and exact error texts, so failures surface as the same
aiogram exceptions they would raise in production.
"""

from .errors import ApiError
from .media import StoredFile
from .models import ApiCall, ApiFailure, BotMessage, CallbackAnswer, TranscriptEntry
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
    "StoredFile",
    "TranscriptEntry",
]
