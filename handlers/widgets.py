"""aiogram-dialog widgets that speak the reader's language through gettext."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.enums import ContentType
from aiogram.filters import Filter
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext
from aiogram_dialog import DialogManager, ShowMode
from aiogram_dialog.api.entities import OldMessage
from aiogram_dialog.manager.message_manager import MessageManager
from aiogram_dialog.widgets.common import WhenCondition
from aiogram_dialog.widgets.input import MessageInput as DialogMessageInput
from aiogram_dialog.widgets.input.base import MessageHandlerFunc
from aiogram_dialog.widgets.kbd import Back
from aiogram_dialog.widgets.text import Text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.errors import DomainError
from handlers.texts import error_text
from models import User


def user_of(manager: DialogManager) -> User:
    """The person whose update this is (loaded by UserMiddleware)."""
    return manager.middleware_data["user"]


def session_of(manager: DialogManager) -> AsyncSession:
    """The update's database session (its work is committed before any reply)."""
    return manager.middleware_data["session"]


class ContentIs(Filter):
    """The message is of one of these content types."""

    def __init__(self, content_types: Sequence[str]) -> None:
        self.content_types = frozenset(content_types)

    async def __call__(self, message: Message) -> bool:
        return message.content_type in self.content_types


class MessageInput(DialogMessageInput):
    """aiogram-dialog's MessageInput, with its content-type check run on the event loop.

    The library checks content types with a magic ``F`` filter, which aiogram runs in a worker
    thread (it is not a coroutine): a thread hop for every message typed into a step, and under
    load a queue for the default executor's few threads. Same arguments, same behaviour.
    """

    def __init__(
        self,
        func: MessageHandlerFunc | None,
        content_types: Sequence[str] | str = ContentType.ANY,
        filter: Callable[..., Any] | None = None,  # noqa: A002 - the library's parameter name
        id: str | None = None,  # noqa: A002 - the library's parameter name
    ) -> None:
        super().__init__(func, ContentType.ANY, filter, id)
        types = [content_types] if isinstance(content_types, str) else list(content_types)
        if ContentType.ANY not in types:
            self.filters.insert(0, FilterObject(ContentIs(types)))


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


async def refuse_step(message: Message, manager: DialogManager, error: DomainError) -> None:
    """A typed answer was refused: say why, and show the step again below the explanation."""
    await message.answer(error_text(error))
    manager.show_mode = ShowMode.SEND


async def not_words(message: Message, _widget: Any, manager: DialogManager) -> None:
    """A step that wants typed words got a photo, a sticker, a file…: ask for words, keep the step."""
    await message.answer(gettext("Please type it in words."))
    manager.show_mode = ShowMode.SEND


def back_button() -> Back:
    return Back(Tr("⬅️ Back"), id="back")


async def close_dialogs(manager: DialogManager) -> None:
    """End whatever dialog is open (a new command replaces it).

    aiogram-dialog takes the old step's buttons away, and a reply keyboard it
    showed too (Telegram removes one only with a message, so it deletes the step
    or sends a short one of its own).
    """
    if manager.has_context():
        await manager.reset_stack(remove_keyboard=True)


_keep_buttons: ContextVar[int | None] = ContextVar("linli_keep_buttons", default=None)
# The callback query this update's handler has already answered (with a text or an alert).
_answered: ContextVar[str | None] = ContextVar("linli_answered_callback", default=None)


class RememberAnsweredCallbacks(BaseRequestMiddleware):
    """Notes which callback query the update's own code answered, so aiogram-dialog does not answer it again.

    aiogram-dialog answers every callback it handles after the widget's handler ran;
    a handler that answered already (an alert saying why not) would make that a second
    answerCallbackQuery, which Telegram refuses. Runs in the update's task, so the note
    is seen by the dialog code of the same update only.
    """

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        response = await make_request(bot, method)
        if isinstance(method, AnswerCallbackQuery):
            _answered.set(method.callback_query_id)
        return response


def keep_buttons_of(message_id: int) -> None:
    """A dialog about to start from a press on this message leaves its buttons alone (a case card, a notice)."""
    _keep_buttons.set(message_id)


class LinliMessageManager(MessageManager):
    """aiogram-dialog's message manager, except that a card a dialog starts from keeps its buttons.

    Starting a dialog from a callback takes the buttons off the message pressed, as if it
    were the previous step. For a case card or a notice they are still needed after the
    dialog (another action on the same case), so handlers mark the message with
    `keep_buttons_of` before they start the dialog.
    """

    async def answer_callback(self, bot: Bot, callback_query: CallbackQuery) -> None:
        if _answered.get() == callback_query.id:
            return None  # the handler answered it, with words of its own
        return await super().answer_callback(bot, callback_query)

    async def remove_inline_kbd(self, bot: Bot, old_message: OldMessage | None) -> Any:
        if old_message is not None and old_message.message_id == _keep_buttons.get():
            return None
        return await super().remove_inline_kbd(bot, old_message)
