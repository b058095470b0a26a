"""Coordinators as the operator manages them from the command line (`linli admin ...`).

Its refusals are operator text in English (the CLI's language), not gettext messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.users import get_by_telegram_id
from models import Invite, Role, User, UserRole


class AdminRefused(Exception):
    """The operator asked for something that would do harm; the message says why, in one line."""


@dataclass(frozen=True)
class Coordinator:
    telegram_id: int
    name: str
    username: str | None
    granted_at: datetime


@dataclass(frozen=True)
class Revoked:
    telegram_id: int
    was_coordinator: bool
    invites_withdrawn: int


async def list_coordinators(session: AsyncSession) -> list[Coordinator]:
    """Every coordinator, the earliest granted first."""
    rows = await session.execute(
        select(User, UserRole.granted_at)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.COORDINATOR)
        .order_by(UserRole.granted_at, User.telegram_id)
    )
    # A person granted before their first message has no name yet ("" here).
    return [
        Coordinator(user.telegram_id, user.display_name if user.first_name or user.real_name else "",
                    user.username, granted_at)
        for user, granted_at in rows.all()
    ]


async def revoke_coordinator(
    session: AsyncSession, telegram_id: int, *, now: datetime, allow_last: bool = False
) -> Revoked:
    """Take the coordinator role away; their unused invitation links stop working.

    Refused for a Telegram id nobody has used Linli with (most likely a typo), and
    for the last coordinator unless `allow_last`: without one nobody can invite staff.
    """
    user = await get_by_telegram_id(session, telegram_id)
    if user is None:
        raise AdminRefused(f"nobody with Telegram id {telegram_id} has used Linli; check the id")
    if not user.has_role(Role.COORDINATOR):
        return Revoked(telegram_id, was_coordinator=False, invites_withdrawn=0)
    if not allow_last:
        count = await session.scalar(select(func.count()).select_from(UserRole).where(UserRole.role == Role.COORDINATOR))
        if count == 1:
            raise AdminRefused(
                f"{telegram_id} is the last coordinator and without one nobody can invite staff; "
                "grant another first, or pass --allow-none"
            )
    await session.execute(
        delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == Role.COORDINATOR)
    )
    # Links they made but nobody has used yet would still make staff on their authority.
    withdrawn = await session.execute(
        update(Invite)
        .where(Invite.created_by_id == user.id, Invite.used_at.is_(None), Invite.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(user, ["role_rows"])
    return Revoked(telegram_id, was_coordinator=True, invites_withdrawn=withdrawn.rowcount or 0)
