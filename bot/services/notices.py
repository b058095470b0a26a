"""Notices: "tell user U message KEY with PARAMS, with these buttons".

A service builds notices and `enqueue`s them into the outbox inside the same
transaction as the work that caused them; the delivery layer renders each one
in the recipient's language when it sends it. Parameters stay JSON: plain
values, `localized(zh, en)` pairs, or `timestamp(dt)` for local-time display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models import OutgoingMessage, User


def localized(zh: str, en: str | None) -> dict[str, Any]:
    return {"$l": {"zh_CN": zh, "en": en or zh}}


def timestamp(moment: datetime) -> dict[str, Any]:
    return {"$t": moment.isoformat()}


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
