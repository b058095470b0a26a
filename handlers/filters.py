"""Router-level filters.

They are coroutines on purpose: aiogram runs a plain function (or a magic ``F``
expression) given as a filter in a worker thread, a thread hop per update that
costs far more than the check itself.
"""

from __future__ import annotations

from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject

from handlers.callbacks import PREFIXES
from models import Role, User


class HasRole(Filter):
    """Passes when the sender holds the role (checked on the server for every event)."""

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, event: TelegramObject, user: User | None = None) -> bool:
        return user is not None and user.has_role(self.role)


async def not_command(message: Message) -> bool:
    """For a step's catch-all handler: let /commands reach their own handlers."""
    return not (message.text or "").startswith("/")


async def is_command(message: Message) -> bool:
    return bool(message.text and message.text.startswith("/"))


async def in_private_chat(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


async def from_private_chat(query: CallbackQuery) -> bool:
    """A button under a message of a private chat (not an inline message, not a group)."""
    return query.message is not None and query.message.chat.type == ChatType.PRIVATE


async def looks_like_a_command(message: Message) -> bool:
    """What aiogram's Command filter could match: a text or caption whose first word starts with "/"."""
    text = message.text or message.caption
    return bool(text) and text.lstrip().startswith("/")


async def one_of_our_buttons(query: CallbackQuery) -> bool:
    """Data made by one of the factories of `handlers.callbacks` (forged data included: it is checked later)."""
    return query.data is not None and query.data.split(":", 1)[0] in PREFIXES
