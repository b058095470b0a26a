"""Outer middlewares: one DB transaction per update, the person's row, their language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import Chat, TelegramObject
from aiogram.types import User as TgUser
from aiogram.utils.i18n import I18n, I18nMiddleware
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.services import users
from bot.transaction import WROTE, end_transaction, update_scope

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """One session per update; its work is committed before any reply (`bot.transaction`).

    What is left open when the handler returns is committed here; on any error
    the open work is rolled back. Nothing here holds a lock: on SQLite the
    single pooled connection is taken only while a transaction is open.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], on_outbox: Callable[[], None]) -> None:
        self.session_factory = session_factory
        self.on_outbox = on_outbox

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.session_factory() as session:
            data["session"] = session
            with update_scope(session, self.on_outbox):
                try:
                    result = await handler(event, data)
                except BaseException:
                    session.info.pop(WROTE, None)
                    await session.rollback()
                    raise
                await end_transaction(session)
            return result


class UserMiddleware(BaseMiddleware):
    """Load (or create on first contact) the `User` row of whoever sent the update."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: TgUser | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if tg_user is None or tg_user.is_bot:
            return await handler(event, data)
        if chat is not None and chat.type != ChatType.PRIVATE:
            # A group the bot was added to: its members are not our users (the routers ignore it).
            return await handler(event, data)
        session: AsyncSession = data["session"]
        clock: Clock = data["clock"]
        user = await users.touch_user(
            session,
            users.TelegramProfile(tg_user.id, tg_user.first_name, tg_user.last_name, tg_user.username),
            now=clock.now(),
        )
        data["user"] = user
        # Plain copies for the error handler: after a rollback the row is expired and detached.
        data["user_locale"] = user.locale
        data["user_roles"] = user.roles
        return await handler(event, data)


class UserLocaleMiddleware(I18nMiddleware):
    """The stored language of the person, or the default until they choose one."""

    def __init__(self, i18n: I18n) -> None:
        super().__init__(i18n)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        # The plain copy, not the row: the error observer runs after a rollback detached it.
        locale: str | None = data.get("user_locale")
        if locale in self.i18n.available_locales:
            return locale
        return self.i18n.default_locale
