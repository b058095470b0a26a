"""Translations and local formatting.

Messages are gettext catalogues in `locales/<locale>/LC_MESSAGES/messages.po`
with English msgids; zh_CN is the default language. `.mo` files are build
artefacts: the Dockerfile compiles them, and `ensure_compiled` refreshes stale
ones at start-up so a fresh clone runs without an extra step.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.config import SUPPORTED_LOCALES
from bot.services.errors import N_
from models import RequestStatus

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"

STATUS_LABELS: dict[RequestStatus, str] = {
    RequestStatus.NEW: N_("received"),
    RequestStatus.OFFERED: N_("waiting for a social worker"),
    RequestStatus.ACCEPTED: N_("accepted by a social worker"),
    RequestStatus.IN_PROGRESS: N_("in progress"),
    RequestStatus.RESOLVED: N_("resolved"),
    RequestStatus.CLOSED: N_("closed"),
    RequestStatus.CANCELLED: N_("cancelled"),
}


def ensure_compiled(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Compile every .po whose .mo is missing or older; returns what was compiled."""
    compiled: list[Path] = []
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        try:
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog)
        except OSError as exc:  # a read-only install must have been compiled at build time
            raise RuntimeError(f"cannot compile {po_path}: {exc}") from exc
        compiled.append(mo_path)
    return compiled


def make_i18n(default_locale: str, locales_dir: Path = LOCALES_DIR) -> I18n:
    ensure_compiled(locales_dir)
    i18n = I18n(path=locales_dir, default_locale=default_locale, domain=DOMAIN)
    missing = set(SUPPORTED_LOCALES) - set(i18n.available_locales)
    if missing:
        log.warning("no compiled catalogue for %s", ", ".join(sorted(missing)))
    return i18n


def format_local_time(moment: datetime, locale: str, tz: str | ZoneInfo) -> str:
    """11月29日 下午3:00 in Chinese, 29 Nov, 3:00 PM in English, in the local zone."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = moment.astimezone(zone)
    hour12 = local.hour % 12 or 12
    if locale == "zh_CN":
        # Chinese counts 凌晨0点 after midnight, 中午12点 at noon, then 下午1点.
        if local.hour < 6:
            period, hour = "凌晨", local.hour
        elif local.hour < 12:
            period, hour = "上午", local.hour
        elif local.hour < 13:
            period, hour = "中午", local.hour
        elif local.hour < 18:
            period, hour = "下午", local.hour - 12
        else:
            period, hour = "晚上", local.hour - 12
        return f"{local.month}月{local.day}日 {period}{hour}:{local.minute:02d}"
    return f"{local.day} {local.strftime('%b')}, {hour12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def _clock_time(local: datetime, locale: str) -> str:
    if locale == "zh_CN":
        return format_local_time(local, locale, local.tzinfo).split(" ", 1)[1]
    return f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def format_local_period(start: datetime, end: datetime, locale: str, tz: str | ZoneInfo) -> str:
    """12月5日 上午9:00–11:30 in Chinese, 5 Dec, 9:00 AM–11:30 AM in English (the end's day if it differs)."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    first, last = start.astimezone(zone), end.astimezone(zone)
    if first.date() != last.date():
        return f"{format_local_time(first, locale, zone)}–{format_local_time(last, locale, zone)}"
    head = format_local_time(first, locale, zone)
    tail = _clock_time(last, locale)
    if locale == "zh_CN" and tail[:2] == head.split(" ", 1)[1][:2]:
        tail = tail[2:]  # 上午9:00–11:30, not 上午9:00–上午11:30
    return f"{head}–{tail}"


def render_param(value: Any, locale: str, tz: str | ZoneInfo, i18n: I18n | None = None) -> str:
    """A notice parameter as shown to one reader, HTML-escaped (messages use HTML)."""
    if isinstance(value, dict) and "$f" in value:  # a msgid with parameters of its own, e.g. a line that may be absent
        inner = value["$f"]
        template = i18n.gettext(inner["msgid"], locale=locale) if i18n is not None else inner["msgid"]
        return template.format(**{k: render_param(v, locale, tz, i18n) for k, v in inner["params"].items()})
    if isinstance(value, dict) and "$m" in value:  # msgids, translated for the reader and listed
        parts = [i18n.gettext(msgid, locale=locale) if i18n is not None else msgid for msgid in value["$m"]]
        text = ("、" if locale == "zh_CN" else ", ").join(parts)
    elif isinstance(value, dict) and "$l" in value:
        pair = value["$l"]
        text = pair.get(locale) or pair.get("zh_CN") or ""
    elif isinstance(value, dict) and "$t" in value:
        text = format_local_time(datetime.fromisoformat(value["$t"]), locale, tz)
    elif isinstance(value, dict) and "$p" in value:
        start, end = (datetime.fromisoformat(v) for v in value["$p"])
        text = format_local_period(start, end, locale, tz)
    else:
        text = str(value)
    return html.escape(text, quote=False)


def render(i18n: I18n, template: str, params: dict[str, Any], locale: str, tz: str | ZoneInfo) -> str:
    rendered = {key: render_param(value, locale, tz, i18n) for key, value in params.items()}
    # A parameter may be an empty optional line ("{station}" without a station phone): no blank line left over.
    return i18n.gettext(template, locale=locale).format(**rendered).strip()
