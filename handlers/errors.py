"""The error handler: log the cause, tell the person in their language, keep going."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import I18n

from bot.services.errors import N_

log = logging.getLogger(__name__)
router = Router(name=__name__)

SORRY = N_("Sorry, something went wrong on our side and nothing was saved. Please try again in a moment.")


@router.errors()
async def on_error(event: ErrorEvent, bot: Bot, i18n: I18n, **data: object) -> bool:
    update = event.update
    log.error("update %s failed", update.update_id, exc_info=event.exception)
    locale = data.get("user_locale") or i18n.default_locale
    text = i18n.gettext(SORRY, locale=locale)
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.message is not None:
            await bot.send_message(update.message.chat.id, text)
    except Exception:  # the error report must never raise itself
        log.exception("could not tell the user about the error")
    return True
