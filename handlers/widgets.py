"""aiogram-dialog widgets that speak the reader's language through gettext."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.types import ReplyKeyboardRemove
from aiogram.utils.i18n import gettext
from aiogram_dialog import DialogManager
from aiogram_dialog.widgets.common import WhenCondition
from aiogram_dialog.widgets.kbd import Back
from aiogram_dialog.widgets.text import Text
from sqlalchemy.ext.asyncio import AsyncSession

from models import User


def user_of(manager: DialogManager) -> User:
    """The person whose update this is (loaded by UserMiddleware)."""
    return manager.middleware_data["user"]


def session_of(manager: DialogManager) -> AsyncSession:
    """The update's database session (its work is committed before any reply)."""
    return manager.middleware_data["session"]


class Tr(Text):
    """A msgid translated at render time, formatted with the window's data: Tr("Step {n}")."""

    def __init__(self, msgid: str, when: WhenCondition = None) -> None:
        super().__init__(when=when)
        self.msgid = msgid

    async def _render_text(self, data: dict[str, Any], manager: DialogManager) -> str:
        text = gettext(self.msgid)
        return text.format_map(data) if "{" in text else text


class Lines(Text):
    """Several texts, one per line, skipping those that render empty."""

    def __init__(self, *texts: Text, when: WhenCondition = None) -> None:
        super().__init__(when=when)
        self.texts = texts

    async def _render_text(self, data: dict[str, Any], manager: DialogManager) -> str:
        rendered = [await text.render_text(data, manager) for text in self.texts]
        return "\n".join(line for line in rendered if line)


def back_button() -> Back:
    return Back(Tr("⬅️ Back"), id="back")


async def close_dialogs(manager: DialogManager) -> None:
    """End whatever dialog is open (a new command replaces it); a reply keyboard it showed goes too.

    Telegram removes a reply keyboard only with a message that says so, so a
    silent one is sent and deleted at once.
    """
    if not manager.has_context():
        return
    had_reply_keyboard = manager.current_stack().last_reply_keyboard
    await manager.reset_stack()
    if had_reply_keyboard:
        bot: Bot = manager.middleware_data["bot"]
        chat_id = manager.middleware_data["event_chat"].id
        sent = await bot.send_message(chat_id, "…", reply_markup=ReplyKeyboardRemove(), disable_notification=True)
        await bot.delete_message(chat_id, sent.message_id)
