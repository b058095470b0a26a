"""The error handler: log the cause, tell the person in their language, keep going."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import ErrorEvent, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram_dialog.api.exceptions import OutdatedIntent, UnknownIntent, UnknownState
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.metrics import Metrics
from bot.services.errors import N_
from bot.transaction import committed
from bot.updates import UpdateOutcome, causes, is_transient
from handlers import keyboards

log = logging.getLogger(__name__)
router = Router(name=__name__)

NOT_SAVED = N_("Sorry, something went wrong on our side and nothing was saved. Please try again in a moment.")
ALREADY_FILED = N_("Your request {number} was already received.")
STALE = N_("This button is no longer active. Please use the menu below.")
MENU = N_("What would you like to do?")
# Something of this update was committed before the failure: saying "nothing was saved" would be false.
SORRY = N_("Sorry, something went wrong on our side. Please check with /my before trying again.")
# The database or Redis is out of reach. In webhook mode Telegram delivers the update again later.
UNAVAILABLE_KEPT = N_("⏳ The service is temporarily unavailable. Your message was not lost: it will be handled "
                      "as soon as the service is back. There is no need to send it again.")
# One "unavailable" notice per person this often, however many of their updates fail meanwhile.
UNAVAILABLE_NOTICE_SECONDS = 600.0
_told_unavailable: dict[int, float] = {}


async def _first_notice(chat_id: int, redis: object) -> bool:
    """Whether this person has not been told "unavailable" lately (then they are, now).

    Shared by the replicas through Redis (a redelivery may land on another one); in this
    process only when Redis is not there or is what is out of reach.
    """
    if isinstance(redis, Redis):
        try:
            return bool(await redis.set(f"linli:told-unavailable:{chat_id}", b"1", nx=True,
                                        ex=int(UNAVAILABLE_NOTICE_SECONDS)))
        except RedisError:
            pass
    now = time.monotonic()
    if now - _told_unavailable.get(chat_id, float("-inf")) < UNAVAILABLE_NOTICE_SECONDS:
        return False
    if len(_told_unavailable) > 10_000:
        _told_unavailable.clear()
    _told_unavailable[chat_id] = now
    return True


def _menu(i18n: I18n, locale: str, data: dict[str, object]) -> InlineKeyboardMarkup:
    """The main menu in the person's language, from the plain copy of their roles (the row may be gone)."""
    with i18n.use_locale(locale):
        return keyboards.main_menu(data.get("user_roles") or frozenset())  # type: ignore[arg-type]


async def _send_menu(bot: Bot, chat_id: int, i18n: I18n, locale: str, data: dict[str, object]) -> None:
    """After an error or a dead button the way on is shown, never only a command to type."""
    try:
        await bot.send_message(chat_id, i18n.gettext(MENU, locale=locale), reply_markup=_menu(i18n, locale, data))
    except Exception:  # the report must never raise itself
        log.exception("could not show the menu after an error")


@router.errors(ExceptionTypeFilter(UnknownIntent, OutdatedIntent, UnknownState))
async def on_stale_dialog(event: ErrorEvent, bot: Bot, i18n: I18n, **data: object) -> bool:
    """A button of a dialog that has ended (cancelled, finished, replaced): say so, change nothing."""
    locale = data.get("user_locale") or i18n.default_locale
    query = event.update.callback_query
    text = i18n.gettext(STALE, locale=locale)
    state = data.get("state")
    try:
        if query is not None and isinstance(state, FSMContext) and query.message is not None:
            filed = await state.get_data()
            if filed.get("filed_message") == query.message.message_id:
                # Confirm tapped again on a summary that was already filed (a double tap).
                text = i18n.gettext(ALREADY_FILED, locale=locale).format(number=filed.get("filed_number"))
    except Exception:  # the storage is unreachable: the plain answer still goes out
        log.exception("could not read what was filed from this chat")
    try:
        if query is not None:
            await query.answer(text, show_alert=True)
        elif event.update.message is not None:
            await event.update.message.answer(text)
    except Exception:  # the report must never raise itself
        log.exception("could not tell the user the button is stale")
    chat = event.update.callback_query.from_user.id if query is not None else (
        event.update.message.chat.id if event.update.message is not None else None)
    if chat is not None and data.get("user_roles") is not None:
        await _send_menu(bot, chat, i18n, locale, data)
    return True


async def _unavailable(event: ErrorEvent, bot: Bot, i18n: I18n, outcome: UpdateOutcome,
                       data: dict[str, object]) -> bool:
    """Webhook mode, the database or Redis out of reach, nothing saved: Telegram will deliver the update again.

    The person is told once (not at every redelivery) that their message is kept.
    """
    update = event.update
    log.warning("update %s not handled, the service is out of reach (%s: %s); Telegram will deliver it again",
                update.update_id, type(event.exception).__name__, event.exception)
    outcome.redeliver = True
    locale = str(data.get("user_locale") or i18n.default_locale)
    query, message = update.callback_query, update.message
    chat_id = message.chat.id if message else (query.from_user.id if query else None)
    # Told at the first failed delivery only (a redelivery knows its earlier attempts), and once per person
    # in UNAVAILABLE_NOTICE_SECONDS however many of their messages wait.
    first = chat_id is not None and outcome.attempt == 0 and await _first_notice(chat_id, data.get("redis"))
    text = i18n.gettext(UNAVAILABLE_KEPT, locale=locale)
    try:
        if query is not None:
            await query.answer(text if first else None, show_alert=first)
        elif first and chat_id is not None:
            await bot.send_message(chat_id, text)
    except Exception:  # the report must never raise itself
        log.exception("could not tell the user the service is unavailable")
    return True


class OutOfReachMiddleware(BaseMiddleware):
    """Report a failure to reach the database or Redis before any other error middleware runs.

    aiogram-dialog's error middleware reads the dialog stack from the FSM storage for
    every error; with Redis out of reach that read fails too and the report is lost.
    Nothing here needs the storage.
    """

    async def __call__(self, handler: Callable[[ErrorEvent, dict[str, Any]], Awaitable[Any]], event: ErrorEvent,
                       data: dict[str, Any]) -> Any:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        outcome = data.get("outcome")
        storage_down = any(isinstance(cause, (RedisConnectionError, RedisTimeoutError))
                           for cause in causes(event.exception))
        if is_transient(event.exception) and not committed(data) and (outcome is not None or storage_down):
            bot, i18n = data["bot"], data["i18n"]
            rest = {k: v for k, v in data.items() if k not in ("bot", "i18n")}
            return await on_error(event, bot, i18n, **rest)
        return await handler(event, data)


@router.errors()
async def on_error(event: ErrorEvent, bot: Bot, i18n: I18n, **data: object) -> bool:
    update = event.update
    outcome = data.get("outcome")
    outcome = outcome if isinstance(outcome, UpdateOutcome) else None
    if outcome is not None:
        outcome.failed = True
    transient = is_transient(event.exception) and not committed(data)
    metrics = data.get("metrics")
    if isinstance(metrics, Metrics):
        metrics.handler_errors.labels("transient" if transient else "error").inc()
    if transient and outcome is not None:
        return await _unavailable(event, bot, i18n, outcome, data)
    # Polling cannot give the update back (aiogram moved the offset on): "nothing was saved, try again".
    log.error("update %s failed", update.update_id, exc_info=event.exception)
    locale = data.get("user_locale") or i18n.default_locale
    text = i18n.gettext(SORRY if committed(data) else NOT_SAVED, locale=locale)
    query, message = update.callback_query, update.message
    chat_id = message.chat.id if message else (query.from_user.id if query else None)
    if query is not None:
        try:
            await query.answer(text, show_alert=True)
            if chat_id is not None and data.get("user_roles") is not None:
                await _send_menu(bot, chat_id, i18n, locale, data)
            return True
        except Exception:  # already answered before the failure: say it in the chat instead
            log.info("callback %s already answered; reporting the error in the chat", query.id)
    if chat_id is None:
        return True
    try:
        markup = _menu(i18n, locale, data) if data.get("user_roles") is not None else None
        await bot.send_message(chat_id, text, reply_markup=markup)
    except Exception:  # the error report must never raise itself
        log.exception("could not tell the user about the error")
    return True
