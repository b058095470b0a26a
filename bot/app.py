"""Wiring in one readable place: Bot, Dispatcher, middlewares, routers, outbox sender."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import BotCommand, BotCommandScopeDefault
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import SUPPORTED_LOCALES, Settings
from bot.db import WriteGate, make_engine, make_session_factory
from bot.delivery.sender import OutboxSender
from bot.i18n import make_i18n
from bot.middlewares import DbSessionMiddleware, PerUserSerialMiddleware, UserLocaleMiddleware, UserMiddleware
from bot.services.errors import N_
from handlers import build_routers

log = logging.getLogger(__name__)

# Unfinished flows are forgotten after a day rather than kept forever.
FSM_TTL_SECONDS = 24 * 3600

COMMANDS: tuple[tuple[str, str], ...] = (
    ("new", N_("Ask for help")),
    ("my", N_("My requests")),
    ("help", N_("What I can do")),
    ("language", N_("中文 / English")),
    ("cancel", N_("Stop what you are doing")),
    ("start", N_("Start again")),
)

# Telegram picks the menu by the client's language code; zh_CN is the default menu.
MENU_LANGUAGE_CODES: dict[str, str | None] = {"zh_CN": None, "en": "en"}


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


def make_bot(settings: Settings, token: str) -> Bot:
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
        if settings.telegram_api_base
        else AiohttpSession()
    )
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def make_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(
            settings.redis_url,
            key_builder=DefaultKeyBuilder(with_destiny=True, prefix="linli:fsm"),
            state_ttl=FSM_TTL_SECONDS,
            data_ttl=FSM_TTL_SECONDS,
        )
    return MemoryStorage()


def redis_client(storage: BaseStorage):  # noqa: ANN201 - redis.asyncio.Redis | None
    """The Redis connection of the FSM storage, shared for locks; None without Redis."""
    return getattr(storage, "redis", None)


def build_app(settings: Settings, *, engine: AsyncEngine | None = None, per_chat_interval: float = 1.0) -> App:
    token = settings.require_token()
    engine = engine or make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    gate = WriteGate(engine)
    i18n = make_i18n(settings.default_locale)
    bot = make_bot(settings, token)
    storage = make_storage(settings)
    redis = redis_client(storage)
    sender = OutboxSender(
        bot,
        session_factory,
        i18n,
        default_locale=settings.default_locale,
        timezone=settings.timezone,
        per_chat_interval=per_chat_interval,
        gate=gate,
    )

    dp = Dispatcher(storage=storage, settings=settings, i18n=i18n, sender=sender)
    dp.update.outer_middleware(PerUserSerialMiddleware(redis))
    dp.update.outer_middleware(DbSessionMiddleware(session_factory, on_outbox=sender.wake, gate=gate))
    dp.update.outer_middleware(UserMiddleware(settings.admin_ids))
    UserLocaleMiddleware(i18n).setup(dp)
    dp.include_routers(*build_routers())

    app = App(settings, bot, dp, engine, session_factory, i18n, sender, storage)

    async def _startup() -> None:
        await on_startup(app)

    async def _shutdown() -> None:
        await on_shutdown(app)

    dp.startup.register(_startup)
    dp.shutdown.register(_shutdown)
    return app


async def set_command_menus(bot: Bot, i18n: I18n) -> None:
    for locale in SUPPORTED_LOCALES:
        commands = [BotCommand(command=name, description=i18n.gettext(text, locale=locale)) for name, text in COMMANDS]
        await bot.set_my_commands(
            commands, scope=BotCommandScopeDefault(), language_code=MENU_LANGUAGE_CODES[locale]
        )


async def on_startup(app: App) -> None:
    await set_command_menus(app.bot, app.i18n)
    app.sender.start()
    me = await app.bot.me()
    log.info("Linli is running as @%s", me.username)


async def on_shutdown(app: App) -> None:
    await app.sender.stop()
    await app.storage.close()
    await app.engine.dispose()
    log.info("Linli stopped")
