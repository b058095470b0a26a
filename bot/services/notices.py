"""Notices: "tell user U message KEY with PARAMS, with these buttons".

A service builds notices and `enqueue`s them into the outbox inside the same
transaction as the work that caused them; the delivery layer renders each one
in the recipient's language when it sends it. Parameters stay JSON: plain
values, `localized(zh, en)` pairs, `phrases(msgid, …)` from the catalogue, or
`timestamp(dt)` for local-time display.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.errors import N_
from models import AttachmentKind, OutgoingMessage, User


def localized(zh: str, en: str | None) -> dict[str, Any]:
    return {"$l": {"zh_CN": zh, "en": en or zh}}


def phrases(*msgids: str) -> dict[str, Any]:
    """Catalogue phrases (msgids marked with N_), translated for each reader and listed: “自伤或轻生、家庭暴力”."""
    return {"$m": list(msgids)}


def formatted(msgid: str, **params: Any) -> dict[str, Any]:
    """A catalogue sentence with its own parameters, translated and filled in for each reader."""
    return {"$f": {"msgid": msgid, "params": params}}


def timestamp(moment: datetime) -> dict[str, Any]:
    return {"$t": moment.isoformat()}


def period(start: datetime, end: datetime) -> dict[str, Any]:
    """A span of local time, "12月5日 上午9:00–11:30", for each reader."""
    return {"$p": [start.isoformat(), end.isoformat()]}


def media_summary(kinds: list[tuple[AttachmentKind, int | None]]) -> dict[str, str]:
    """"1 voice message (0:12), 2 photos" in both languages, for notices rendered later."""
    counts = Counter(kind for kind, _duration in kinds)
    voice_seconds = sum(duration or 0 for kind, duration in kinds if kind is AttachmentKind.VOICE)
    zh: list[str] = []
    en: list[str] = []
    if counts[AttachmentKind.VOICE]:
        length = f"{voice_seconds // 60}:{voice_seconds % 60:02d}"
        zh.append(f"语音{counts[AttachmentKind.VOICE]}条（{length}）")
        en.append(f"{counts[AttachmentKind.VOICE]} voice message{'s' if counts[AttachmentKind.VOICE] > 1 else ''} ({length})")
    if counts[AttachmentKind.VIDEO_NOTE]:
        zh.append(f"视频消息{counts[AttachmentKind.VIDEO_NOTE]}条")
        en.append(f"{counts[AttachmentKind.VIDEO_NOTE]} video message{'s' if counts[AttachmentKind.VIDEO_NOTE] > 1 else ''}")
    if counts[AttachmentKind.PHOTO]:
        zh.append(f"照片{counts[AttachmentKind.PHOTO]}张")
        en.append(f"{counts[AttachmentKind.PHOTO]} photo{'s' if counts[AttachmentKind.PHOTO] > 1 else ''}")
    return {"zh_CN": "、".join(zh), "en": ", ".join(en)}


def described(description: str, media: list[tuple[AttachmentKind, int | None]]) -> dict[str, Any] | str:
    """A description as a notice shows it: the words, and the photos and recordings that came with them."""
    if not media:
        return description
    summary = media_summary(media)
    if not description:
        return localized(f"[{summary['zh_CN']}]", f"[{summary['en']}]")
    return localized(f"{description} [{summary['zh_CN']}]", f"{description} [{summary['en']}]")


@dataclass(frozen=True)
class NoticeButton:
    label: str  # a msgid
    action: str  # a key known to the delivery layer, e.g. "request.view"
    ref: int


@dataclass(frozen=True)
class Notice:
    user: User
    template: str  # a msgid with {named} placeholders
    params: dict[str, Any] = field(default_factory=dict)
    buttons: tuple[NoticeButton, ...] = ()


def enqueue(session: AsyncSession, *notices: Notice, now: datetime) -> list[OutgoingMessage]:
    rows = [
        OutgoingMessage(
            user_id=notice.user.id,
            chat_id=notice.user.telegram_id,
            template=notice.template,
            params=notice.params,
            buttons=[{"label": b.label, "action": b.action, "ref": b.ref} for b in notice.buttons],
            created_at=now,
            next_attempt_at=now,
        )
        for notice in notices
    ]
    session.add_all(rows)
    if rows:
        # Read by the session middleware: after commit it wakes the sender.
        session.info["outbox_written"] = True
    return rows


STATION_PHONE = N_("Social work station: {phone}")


def station_line(phone: str | None) -> dict[str, Any] | str:
    """The `{station}` parameter of a resident's status notice: the station's phone, or nothing."""
    if not phone:
        return ""
    from bot.services.requests import format_phone  # requests imports this module

    return formatted(STATION_PHONE, phone=format_phone(phone))
