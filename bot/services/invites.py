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
from models import STAFF_ROLES, Community, Invite, Role, User

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
    creator = await session.get(User, invite.created_by_id) if invite.created_by_id is not None else None
    await grant_role(session, user, invite.role, now=now, granted_by=creator)
    await apply_invited_profile(session, user, invite)
    if creator is not None and creator.id != user.id:
        role_name = (
            localized("社工", "social worker") if invite.role is Role.SOCIAL_WORKER else localized("协调员", "coordinator")
        )
        enqueue(session, Notice(creator, N_("{name} joined as {role} through your invitation."),
                                {"name": user.display_name, "role": role_name}), now=now)
    return invite


async def apply_invited_profile(session: AsyncSession, user: User, invite: Invite) -> None:
    """What the district's list (`linli import`) says of an invited social worker becomes theirs.

    A bare coordinator's invite carries nothing, and the newcomer chooses where they
    work next. An imported one names the person, their home community, organisation
    and supervisor flag: the operator's list is the authority on where staff work.
    """
    imported = invite.phone is not None  # a coordinator's invite carries nothing
    if not imported or invite.role is not Role.SOCIAL_WORKER or user.social_worker is None:
        return
    if invite.name:
        user.real_name = invite.name
    worker = user.social_worker
    worker.is_supervisor = invite.is_supervisor
    community = await session.get(Community, invite.community_id) if invite.community_id is not None else None
    if community is not None and community.active:
        worker.home_community = community
        if user.community is None:
            user.community = community  # where they live, until they say otherwise
        worker.organization_id = invite.organization_id or community.organization_id
    elif invite.organization_id is not None:
        worker.organization_id = invite.organization_id
    # With its community gone, the newcomer chooses where they work, as with a coordinator's invite.
    await session.flush()
