"""Small text helpers shared by handlers: translated domain errors, statuses, durations."""

from __future__ import annotations

import html

from aiogram.utils.i18n import I18n, get_i18n, ngettext
from aiogram.utils.i18n import gettext as _

from bot.config import SUPPORTED_LOCALES
from bot.i18n import STATUS_LABELS
from bot.services.errors import DomainError
from models import RequestStatus


def bilingual(i18n: I18n, msgid: str) -> str:
    """Chinese first, then English: for the one message sent before a language is chosen."""
    return "\n".join(dict.fromkeys(i18n.gettext(msgid, locale=code) for code in SUPPORTED_LOCALES))


def esc(value: object) -> str:
    """Text from people or data, made safe for an HTML message."""
    return html.escape(str(value), quote=False)


def locale() -> str:
    return get_i18n().current_locale


def error_text(error: DomainError) -> str:
    params = {k: esc(v) for k, v in error.params.items()}
    return _(error.message).format(**params)


def status_label(status: RequestStatus) -> str:
    return _(STATUS_LABELS[status])


def response_time(minutes: int) -> str:
    hours = max(1, round(minutes / 60))
    if hours % 24 == 0:
        days = hours // 24
        return ngettext("{count} day", "{count} days", days).format(count=days)
    return ngettext("{count} hour", "{count} hours", hours).format(count=hours)


def step(number: int, total: int) -> str:
    return _("Step {number} of {total}").format(number=number, total=total)
