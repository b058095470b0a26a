"""Wiring in one readable place: Bot, Dispatcher, middlewares, routers, outbox sender."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from aiogram_dialog import setup_dialogs
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.delivery.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from bot.delivery.retry import RetryRequestMiddleware
from bot.delivery.sender import Liveness, OutboxSender, new_process_id
from bot.health import Heartbeat
from bot.i18n import make_i18n
from bot.isolation import OrderedEventIsolation
from bot.menus import set_default_menus
from bot.metrics import Metrics
from bot.middlewares import DbSessionMiddleware, UserLocaleMiddleware, UserMiddleware
from bot.perf import pin_response_models
from bot.scheduler import ReminderSweeper, Scheduler, case_handlers, task_handlers
from bot.services import users
from bot.services.cases import CasePolicy
from bot.services.tasks import TaskPolicy
from bot.transaction import CommitBeforeSend
from bot.updates import LocalSeenUpdates, OnceMiddleware, RedisSeenUpdates, SeenUpdates
from bot.web import WebServer
from handlers import build_routers
from handlers.callbacks import notice_button_data
from handlers.errors import OutOfReachMiddleware
from handlers.filters import from_private_chat, in_private_chat
from handlers.widgets import LinliMessageManager, RememberAnsweredCallbacks

log = logging.getLogger(__name__)

# Unfinished flows are forgotten after a day rather than kept forever.
FSM_TTL_SECONDS = 24 * 3600
# On SIGTERM/SIGINT, updates in hand, the running sweep and the sender's claimed batch get this long,
# together, to finish before the connections close (Compose's stop_grace_period is 30 s).
SHUTDOWN_GRACE_SECONDS = 20.0
REDIS_TIMEOUT_SECONDS = 5.0

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
    sweeper: ReminderSweeper
    scheduler: Scheduler
    metrics: Metrics
    limiter: RateLimiter
    redis: Redis | None = None
    heartbeat: Heartbeat | None = None
    web: WebServer | None = None

    async def start_polling(self, **kwargs: object) -> None:
        """Long polling with the update concurrency the database pool is sized for.

        At most once: aiogram moves the offset on before an update is handled, so the
        updates in hand when the process dies are lost. One process only.
        """
        await self.dispatcher.start_polling(
            self.bot, tasks_concurrency_limit=self.settings.update_concurrency, **kwargs
        )

    async def run_webhook(self, *, host: str, port: int, stop: asyncio.Event | None = None,
                          handle_signals: bool = True, register: bool = True) -> None:
        """Serve Telegram's webhook until SIGTERM/SIGINT (or `stop`), then shut down gracefully.

        Every replica registers the same URL and secret with Telegram (setWebhook is
        idempotent), takes updates the load balancer gives it, sweeps reminders and sends
        the outbox; Redis and the database make them one bot.
        """
        url, secret = self.settings.require_webhook()
        stop = stop or asyncio.Event()
        if handle_signals:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
        self.web = WebServer(self, webhook_path=self.settings.webhook_path, secret=secret)
        await self.web.start(host, port)
        dp = self.dispatcher
        workflow = {"dispatcher": dp, "bots": [self.bot], **dp.workflow_data}
        try:
            await dp.emit_startup(bot=self.bot, **workflow)
            if register:
                await self.bot.set_webhook(url, secret_token=secret, allowed_updates=dp.resolve_used_update_types(),
                                           drop_pending_updates=False)
            log.info("webhook mode: Telegram posts to %s", url)
            await stop.wait()
            log.info("stopping: no new updates; finishing those in hand")
            self.web.stopping = True  # new updates get 503 (Telegram re-sends them to another replica)
        finally:
            try:
                await dp.emit_shutdown(bot=self.bot, **workflow)
            finally:
                await self.bot.session.close()


class LinliDispatcher(Dispatcher):
    """aiogram's Dispatcher that reports each update once `feed_update` has returned.

    By then everything is done: the transaction ended, the replies went out and
    an error, if any, was reported by the error handler. Tests wait on it instead
    of on a quiet chat.

    It also counts the updates in hand, so a graceful shutdown can wait for them.
    """

    def __init__(self, *, on_update_done: Callable[[int], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_update_done = on_update_done
        self._before_shutdown: Callable[[], Awaitable[None]] | None = None
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        self.in_flight += 1
        self._idle.clear()
        try:
            return await super().feed_update(bot, update, **kwargs)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()
            if self._on_update_done is not None:
                self._on_update_done(update.update_id)

    async def emit_shutdown(self, *args: Any, **kwargs: Any) -> None:
        """Finish the work in hand before any shutdown handler runs.

        aiogram registers the FSM storage's close as the first shutdown handler: run
        after it, waiting for updates in hand would leave them without Redis.
        """
        if self._before_shutdown is not None:
            await self._before_shutdown()
        await super().emit_shutdown(*args, **kwargs)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no update is in hand; False when some still were after `timeout` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class ProxySession(AiohttpSession):
    """aiogram's session through TELEGRAM_PROXY; an https:// proxy is reached over TLS.

    aiohttp-socks (behind aiogram's `proxy=`) knows http, socks4 and socks5 URLs; for
    https it is given the http URL plus a TLS context for the connection to the proxy.
    Its errors (proxy refused, proxy authentication failed) are not aiohttp's, so
    aiogram would let them through raw; here they become `TelegramNetworkError` like
    any other network failure, for the retries, the polling loop and the start-up line.
    """

    def __init__(self, proxy_url: str, **kwargs: Any) -> None:
        parts = urlsplit(proxy_url)
        self.proxy_tls = parts.scheme.lower() == "https"
        if self.proxy_tls:
            proxy_url = urlunsplit(("http", *parts[1:]))
        super().__init__(proxy=proxy_url, **kwargs)

    def _setup_proxy_connector(self, proxy: Any) -> None:
        super()._setup_proxy_connector(proxy)
        if getattr(self, "proxy_tls", False):
            # aiohttp-socks' ProxyConnector takes proxy_ssl; aiogram builds the connector from this dict.
            self._connector_init["proxy_ssl"] = ssl.create_default_context()

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None) -> Any:
        from aiohttp_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError

        try:
            return await super().make_request(bot, method, timeout)
        except (ProxyConnectionError, ProxyError, ProxyTimeoutError) as error:
            raise TelegramNetworkError(method=method, message=f"{type(error).__name__}: {error}") from error


def make_session(settings: Settings) -> AiohttpSession:
    """The Bot API HTTP session: api.telegram.org or TELEGRAM_API_BASE, directly or through TELEGRAM_PROXY."""
    kwargs: dict[str, Any] = {}
    if settings.telegram_api_base:
        kwargs["api"] = TelegramAPIServer.from_base(settings.telegram_api_base)
    if settings.proxy_url:
        return ProxySession(settings.proxy_url, **kwargs)
    return AiohttpSession(**kwargs)


def make_bot(settings: Settings, token: str, *, heartbeat: Heartbeat | None = None,
             limiter: RateLimiter | None = None, metrics: Metrics | None = None) -> Bot:
    session = make_session(settings)
    # Outermost first: the update's work is committed once, then the call is retried if Telegram is busy.
    session.middleware(CommitBeforeSend())
    session.middleware(RememberAnsweredCallbacks())
    session.middleware(RetryRequestMiddleware(limiter=limiter, metrics=metrics))
    if heartbeat is not None:
        session.middleware(heartbeat)  # innermost: a beat means Telegram answered getUpdates
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def make_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url:
        return RedisStorage.from_url(
            settings.redis_url,
            # A Redis that does not answer (rather than refusing) fails a call in seconds instead of
            # hanging the person's lock, the budget and the sender; the update is then handed back.
            connection_kwargs={"socket_timeout": REDIS_TIMEOUT_SECONDS,
                               "socket_connect_timeout": REDIS_TIMEOUT_SECONDS},
            key_builder=DefaultKeyBuilder(with_destiny=True, prefix="linli:fsm"),
            state_ttl=FSM_TTL_SECONDS,
            data_ttl=FSM_TTL_SECONDS,
        )
    return MemoryStorage()


# A person's lock expires after this long even if its holder died (a crashed replica never blocks anyone);
# longer than the reply retries' budget, so a live holder keeps it.
PERSON_LOCK_SECONDS = 60


def make_event_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """Handle one person's updates one at a time, in order.

    Without this a quick next tap could be handled against dialog state from
    before the previous tap (a community just chosen, a language just switched,
    Confirm pressed twice) while the first is still talking to Telegram.
    Different people still run concurrently. With Redis it is a redis-py lock,
    so several bot processes serialise the same person too, behind a first-come
    first-served queue in this process (bot/isolation.py) that keeps their order.
    """
    if isinstance(storage, RedisStorage):
        # redis-py polls a held lock every `sleep` seconds; 0.1 s (its default) is a
        # noticeable pause between two quick taps. The timeout only frees the lock of a
        # process that died; it is longer than the reply retries' budget (bot/delivery/retry.py).
        return OrderedEventIsolation(RedisEventIsolation(
            redis=storage.redis, key_builder=storage.key_builder,
            lock_kwargs={"timeout": PERSON_LOCK_SECONDS, "sleep": 0.02},
        ))
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
    bot_id = int(token.split(":", 1)[0])
    pin_response_models()  # aiogram's Response[T] models, built once instead of per call
    clock = clock or SystemClock()
    engine = engine or make_engine(settings.database_url, concurrency=settings.update_concurrency)
    session_factory = make_session_factory(engine)
    i18n = make_i18n(settings.default_locale)
    heartbeat = Heartbeat(settings.heartbeat_file) if settings.heartbeat_file else None
    metrics = Metrics()
    storage = make_storage(settings)
    # Redis (when configured) makes the processes one bot: conversations, per-person locks,
    # the record of handled updates, the sending budget and the senders' liveness.
    redis: Redis | None = storage.redis if isinstance(storage, RedisStorage) else None
    limiter: RateLimiter
    seen: SeenUpdates
    if redis is not None:
        limiter = RedisRateLimiter(redis, bot_id, settings.send_rate_per_second, private_interval=per_chat_interval)
        seen = RedisSeenUpdates(redis, bot_id)
    else:
        limiter = LocalRateLimiter(settings.send_rate_per_second, private_interval=per_chat_interval)
        seen = LocalSeenUpdates()
    bot = make_bot(settings, token, heartbeat=heartbeat, limiter=limiter, metrics=metrics)
    sender = OutboxSender(
        bot,
        session_factory,
        i18n,
        default_locale=settings.default_locale,
        timezone=settings.timezone,
        pack_button=notice_button_data,
        limiter=limiter,
        liveness=Liveness(redis, new_process_id()),
        metrics=metrics,
        clock=clock,
    )

    policy = CasePolicy(
        escalation_minutes=settings.escalation_minutes,
        auto_close_days=settings.auto_close_days,
        rating_reminder_days=min(settings.rating_reminder_days, settings.auto_close_days),
    )
    task_policy = TaskPolicy(wave_minutes=settings.task_wave_minutes,
                             reminder_minutes=tuple(settings.task_reminder_minutes),
                             far_metres=settings.checkin_far_metres,
                             checkout_grace_minutes=settings.checkout_grace_minutes)
    sweeper = ReminderSweeper(session_factory, clock, case_handlers(policy) | task_handlers(task_policy),
                              on_outbox=sender.wake, metrics=metrics)
    scheduler = Scheduler(sweeper, interval=settings.reminder_interval_seconds)

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
        case_policy=policy,
        task_policy=task_policy,
        metrics=metrics,
        redis=redis,
    )
    # Inside the per-person lock (the FSM middleware's), outside the transaction: a repeat waits, then is dropped.
    dp.update.outer_middleware(OnceMiddleware(seen, metrics))
    dp.update.outer_middleware(DbSessionMiddleware(session_factory, on_outbox=sender.wake))
    dp.update.outer_middleware(UserMiddleware())
    UserLocaleMiddleware(i18n).setup(dp)
    # Requests, phone numbers and summaries belong in a private chat, never in a group
    # the bot was added to: root filters stop such updates before any router.
    dp.message.filter(in_private_chat)
    dp.callback_query.filter(from_private_chat)
    dp.include_routers(*build_routers())
    # Before aiogram-dialog's error middleware, which reads the (maybe unreachable) FSM storage.
    dp.errors.outer_middleware(OutOfReachMiddleware())
    setup_dialogs(dp, message_manager=LinliMessageManager())

    app = App(settings, bot, dp, engine, session_factory, i18n, sender, storage, clock, sweeper, scheduler,
              metrics, limiter, redis, heartbeat)

    async def _startup() -> None:
        await on_startup(app)

    async def _shutdown() -> None:
        await on_shutdown(app)

    async def _finish_work() -> None:
        await finish_work(app)

    dp._before_shutdown = _finish_work

    dp.startup.register(_startup)
    dp.shutdown.register(_shutdown)
    return app


async def on_startup(app: App) -> None:
    if app.heartbeat is not None:
        app.heartbeat.reset()  # fresh again only once this process has polled
    if app.settings.admin_ids:
        async with app.session_factory() as session, session.begin():
            granted = await users.ensure_coordinators(session, app.settings.admin_ids, now=app.clock.now())
        if granted:
            log.info("ADMIN_IDS made coordinators: %s", ", ".join(map(str, granted)))
    await set_default_menus(app.bot, app.i18n)
    if app.web is None and app.settings.http_port is not None:
        # Polling mode: health and metrics only, when HTTP_PORT asks for them.
        app.web = WebServer(app)
        await app.web.start(app.settings.http_host, app.settings.http_port)
    app.sender.start()
    app.scheduler.start()
    me = await app.bot.me()
    log.info("Linli is running as @%s", me.username)


async def finish_work(app: App) -> None:
    """Graceful, all at once within SHUTDOWN_GRACE_SECONDS: the updates in hand finish, the running
    reminder sweep finishes (no new one starts), the sender sends what it claimed (no new batch)."""
    if app.heartbeat is not None:
        app.heartbeat.reset()  # a stopped bot is not alive, whatever the file's age
    dp = app.dispatcher

    async def updates() -> None:
        if isinstance(dp, LinliDispatcher) and not await dp.wait_idle(SHUTDOWN_GRACE_SECONDS):
            log.warning("%d update(s) still in hand after %.0fs; stopping anyway", dp.in_flight,
                        SHUTDOWN_GRACE_SECONDS)

    await asyncio.gather(updates(), app.scheduler.stop_gracefully(SHUTDOWN_GRACE_SECONDS),
                         app.sender.stop(SHUTDOWN_GRACE_SECONDS))


async def on_shutdown(app: App) -> None:
    """After `finish_work` (the scheduler and the sender are stopped): the servers and connections close."""
    if app.web is not None:
        await app.web.stop()
    await app.storage.close()
    await app.engine.dispose()
    log.info("Linli stopped")
