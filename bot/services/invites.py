"""Staff invites: single-use, expiring links made by a coordinator.

Nobody becomes staff by typing a command: a coordinator makes an invite, the
new colleague opens `t.me/<bot>?start=inv_<token>`, and the role is granted
when the invite is redeemed, exactly once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.errors import N_, InvalidInput, InvalidState, PermissionDenied
from bot.services.notices import Notice, enqueue, localized
from bot.services.users import grant_role
from models import STAFF_ROLES, Invite, Role, User

INVITE_PREFIX = "inv_"


async def create_invite(
    session: AsyncSession, coordinator: User, role: Role, ttl_hours: int, *, now: datetime
) -> Invite:
    if not coordinator.has_role(Role.COORDINATOR):
        raise PermissionDenied(N_("Only a coordinator can invite staff."))
    if role not in STAFF_ROLES:
        raise InvalidInput(N_("Invites are only for social workers and coordinators."))
    invite = Invite(
        token=secrets.token_urlsafe(18),
        role=role,
        created_by_id=coordinator.id,
        created_at=now,
        expires_at=now + timedelta(hours=ttl_hours),
    )
    session.add(invite)
    await session.flush()
    return invite


async def redeem_invite(session: AsyncSession, user: User, token: str, *, now: datetime) -> Invite:
    """Grant the invite's role to `user`; a used, expired or unknown token is refused."""
    invite = await session.scalar(select(Invite).where(Invite.token == token))
    if invite is None:
        raise InvalidInput(N_("This invitation link is not valid. Please ask your coordinator for a new one."))
    if invite.used_at is not None:
        if invite.used_by_id == user.id:
            return invite  # pressing the same link twice is harmless
        raise InvalidState(N_("This invitation link has already been used. Please ask your coordinator for a new one."))
    if invite.expires_at <= now:
        raise InvalidState(N_("This invitation link has expired. Please ask your coordinator for a new one."))
    # Single use even under a race: only one UPDATE can see used_at IS NULL.
    claimed = await session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None))
        .values(used_at=now, used_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise InvalidState(N_("This invitation link has already been used. Please ask your coordinator for a new one."))
    await session.refresh(invite)
    creator = await session.get(User, invite.created_by_id)
    await grant_role(session, user, invite.role, now=now, granted_by=creator)
    if creator is not None and creator.id != user.id:
        role_name = (
            localized("社工", "social worker") if invite.role is Role.SOCIAL_WORKER else localized("协调员", "coordinator")
        )
        enqueue(session, Notice(creator, N_("{name} joined as {role} through your invitation."),
                                {"name": user.display_name, "role": role_name}), now=now)
    return invite
