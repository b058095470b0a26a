"""A minimal aiogram 3 echo bot: the yardstick bench/request_flow.py measures Linli against.

    BOT_TOKEN=123:ABC TELEGRAM_API_BASE=http://127.0.0.1:8081 python bench/echo_bot.py [--pin]

Long polling; a text is answered with the same text and one inline button, a
press of that button is answered (answerCallbackQuery) and the message is
edited. So one update costs one or two Bot API calls, like a step of Linli's
flows. ``--pin`` builds aiogram's ``Response[T]`` models once at start-up
(bot.perf.pin_response_models), so both bots can be measured alike.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

AGAIN = "echo:again"
KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="🔁 again", callback_data=AGAIN)]])

dp = Dispatcher()


@dp.message(F.text)
async def echo(message: Message) -> None:
    await message.answer(message.text or "", reply_markup=KEYBOARD)


@dp.callback_query(F.data == AGAIN)
async def again(query: CallbackQuery) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(f"{query.message.text} ✓", reply_markup=KEYBOARD)


def _pin() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bot.perf import pin_response_models

    return pin_response_models()


async def main(pin: bool) -> None:
    if pin:
        print(f"echo bot: pinned {_pin()} Response[T] models", flush=True)
    else:
        print("echo bot: Response[T] models not pinned", flush=True)
    base = os.environ.get("TELEGRAM_API_BASE")
    session = AiohttpSession(api=TelegramAPIServer.from_base(base)) if base else AiohttpSession()
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    await dp.start_polling(bot, handle_signals=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pin", action="store_true", help="pin aiogram's Response[T] models at start-up")
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    asyncio.run(main(args.pin))
