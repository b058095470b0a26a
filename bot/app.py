"""Wiring in one readable place: Bot, Dispatcher, middlewares, routers, outbox sender."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher, F
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType, ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from aiogram_dialog import setup_dialogs
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.delivery.retry import RetryRequestMiddleware
from bot.delivery.sender import OutboxSender
from bot.i18n import make_i18n
from bot.menus import set_default_menus
from bot.middlewares import DbSessionMiddleware, UserLocaleMiddleware, UserMiddleware
from bot.perf import pin_response_models
from bot.services import users
from bot.transaction import CommitBeforeSend
from handlers import build_routers
from handlers.callbacks import notice_button_data

log = logging.getLogger(__name__)

# Unfinished flows are forgotten after a day rather than kept forever.
FSM_TTL_SECONDS = 24 * 3600

@dataclass
class App:
    settings: Settings
    bot: Bot
    dispatcher: Dispatcher
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    i18n: I18n
    sender: OutboxSender
    storage: BaseStorage
    clock: Clock

    async def start_polling(self, **kwargs: object) -> None:
        """Long polling with the update concurrency the database pool is sized for."""
        await self.dispatcher.start_polling(
            self.bot, tasks_concurrency_limit=self.settings.update_concurrency, **kwargs
        )


class LinliDispatcher(Dispatcher):
    """aiogram's Dispatcher that reports each update once `feed_update` has returned.

    By then everything is done: the transaction ended, the replies went out and
    an error, if any, was reported by the error handler. Tests wait on it instead
    of on a quiet chat.
    """

    def __init__(self, *, on_update_done: Callable[[int], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_update_done = on_update_done

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        try:
            return await super().feed_update(bot, update, **kwargs)
        finally:
            if self._on_update_done is not None:
                self._on_update_done(update.update_id)


def make_bot(settings: Settings, token: str) -> Bot:
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
        if settings.telegram_api_base
        else AiohttpSession()
    )
    # Outermost first: the update's work is committed once, then the call is retried if Telegram is busy.
    session.middleware(CommitBeforeSend())
    session.middleware(RetryRequestMiddleware())
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def make_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url:
        return RedisStorage.from_url(
            settings.redis_url,
            key_builder=DefaultKeyBuilder(with_destiny=True, prefix="linli:fsm"),
            state_ttl=FSM_TTL_SECONDS,
            data_ttl=FSM_TTL_SECONDS,
        )
    return MemoryStorage()


def make_event_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """Handle one person's updates one at a time, in order.

    Without this a quick next tap could be handled against dialog state from
    before the previous tap (a community just chosen, a language just switched,
    Confirm pressed twice) while the first is still talking to Telegram.
    Different people still run concurrently. With Redis it is a redis-py lock,
    so several bot processes serialise the same person too.
    """
    if isinstance(storage, RedisStorage):
        # redis-py polls a held lock every `sleep` seconds; 0.1 s (its default) is a
        # noticeable pause between two quick taps. The timeout only frees the lock of a
        # process that died; it is longer than the reply retries' budget (bot/delivery/retry.py).
        return RedisEventIsolation(
            redis=storage.redis, key_builder=storage.key_builder, lock_kwargs={"timeout": 120, "sleep": 0.02}
        )
    return SimpleEventIsolation()


def build_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    per_chat_interval: float = 1.0,
    clock: Clock | None = None,
    on_update_done: Callable[[int], None] | None = None,
) -> App:
    token = settings.require_token()
    pin_response_models()  # aiogram's Response[T] models, built once instead of per call
    clock = clock or SystemClock()
    engine = engine or make_engine(settings.database_url, concurrency=settings.update_concurrency)
    session_factory = make_session_factory(engine)
    i18n = make_i18n(settings.default_locale)
    bot = make_bot(settings, token)
    storage = make_storage(settings)
    sender = OutboxSender(
        bot,
        session_factory,
        i18n,
        default_locale=settings.default_locale,
        timezone=settings.timezone,
        per_chat_interval=per_chat_interval,
        pack_button=notice_button_data,
        clock=clock,
    )

    # The FSM middleware takes the per-person lock before it reads the state, and
    # everything below (the DB transaction included) runs inside it.
    dp = LinliDispatcher(
        on_update_done=on_update_done,
        storage=storage,
        events_isolation=make_event_isolation(storage),
        settings=settings,
        i18n=i18n,
        sender=sender,
        clock=clock,
    )
    dp.update.outer_middleware(DbSessionMiddleware(session_factory, on_outbox=sender.wake))
    dp.update.outer_middleware(UserMiddleware())
    UserLocaleMiddleware(i18n).setup(dp)
    # Requests, phone numbers and summaries belong in a private chat, never in a group
    # the bot was added to: root filters stop such updates before any router.
    dp.message.filter(F.chat.type == ChatType.PRIVATE)
    dp.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)
    dp.include_routers(*build_routers())
    setup_dialogs(dp)

    app = App(settings, bot, dp, engine, session_factory, i18n, sender, storage, clock)

    async def _startup() -> None:
        await on_startup(app)

    async def _shutdown() -> None:
        await on_shutdown(app)

    dp.startup.register(_startup)
    dp.shutdown.register(_shutdown)
    return app


async def on_startup(app: App) -> None:
    if app.settings.admin_ids:
        async with app.session_factory() as session, session.begin():
            granted = await users.ensure_coordinators(session, app.settings.admin_ids, now=app.clock.now())
        if granted:
            log.info("ADMIN_IDS made coordinators: %s", ", ".join(map(str, granted)))
    await set_default_menus(app.bot, app.i18n)
    app.sender.start()
    me = await app.bot.me()
    log.info("Linli is running as @%s", me.username)


async def on_shutdown(app: App) -> None:
    await app.sender.stop()
    await app.storage.close()
    await app.engine.dispose()
    log.info("Linli stopped")
