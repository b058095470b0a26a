"""Router-level filters."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import Message, TelegramObject

from models import Role, User


class HasRole(Filter):
    """Passes when the sender holds the role (checked on the server for every event)."""

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, event: TelegramObject, user: User | None = None) -> bool:
        return user is not None and user.has_role(self.role)


def not_command(message: Message) -> bool:
    """For a step's catch-all handler: let /commands reach their own handlers."""
    return not (message.text or "").startswith("/")
