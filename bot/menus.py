"""The command menu (setMyCommands) in each language.

Telegram shows the default menu by the phone's language; once a person picks a
language in the bot, their chat gets a menu of its own in that language.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiogram.utils.i18n import I18n

from bot.config import SUPPORTED_LOCALES
from bot.services.errors import N_

COMMANDS: tuple[tuple[str, str], ...] = (
    ("new", N_("Ask for help")),
    ("my", N_("My requests")),
    ("volunteer", N_("Volunteer with us")),
    ("help", N_("What I can do")),
    ("language", N_("中文 / English")),
    ("cancel", N_("Cancel what you are doing")),
    ("start", N_("Start again")),
)

# Telegram picks the default menu by the client's language code; zh_CN is the fallback.
MENU_LANGUAGE_CODES: dict[str, str | None] = {"zh_CN": None, "en": "en"}


def commands(i18n: I18n, locale: str) -> list[BotCommand]:
    return [BotCommand(command=name, description=i18n.gettext(text, locale=locale)) for name, text in COMMANDS]


async def set_default_menus(bot: Bot, i18n: I18n) -> None:
    for locale in SUPPORTED_LOCALES:
        await bot.set_my_commands(
            commands(i18n, locale), scope=BotCommandScopeDefault(), language_code=MENU_LANGUAGE_CODES[locale]
        )


async def set_chat_menu(bot: Bot, i18n: I18n, chat_id: int, locale: str) -> None:
    """The menu of one private chat, in the language the person chose."""
    await bot.set_my_commands(commands(i18n, locale), scope=BotCommandScopeChat(chat_id=chat_id))
