"""People: first contact, language, home community and roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from bot.config import SUPPORTED_LOCALES
from bot.services.errors import N_, InvalidInput, InvalidState, NotFound, PermissionDenied
from models import Community, Role, SocialWorker, User, UserRole


@dataclass(frozen=True)
class TelegramProfile:
    """What the chat tells us about a person; kept free of aiogram types."""

    telegram_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None


# Built once: it runs on every update, and building the statement costs more than running it.
_BY_TELEGRAM_ID = (
    select(User)
    .where(User.telegram_id == bindparam("telegram_id"))
    .options(joinedload(User.role_rows), joinedload(User.social_worker))
)


async def get_by_telegram_id(session: AsyncSession, telegram_id: int) -> User | None:
    """The person with their roles and staff profile, in one query."""
    result = await session.execute(_BY_TELEGRAM_ID, {"telegram_id": telegram_id})
    return result.unique().scalar_one_or_none()


# last_seen_at is kept to this resolution: an UPDATE on every update would cost a
# write transaction per button press for a figure nobody reads to the second.
LAST_SEEN_RESOLUTION = timedelta(minutes=15)


async def touch_user(session: AsyncSession, profile: TelegramProfile, *, now: datetime) -> User:
    """The person's row, created on first contact and refreshed from their profile.

    Writes only what changed, so most updates read the row and write nothing.
    """
    user = await get_by_telegram_id(session, profile.telegram_id)
    first_name = profile.first_name[:128]
    last_name = profile.last_name[:128] if profile.last_name else None
    if user is None:
        user = User(
            telegram_id=profile.telegram_id,
            first_name=first_name,
            last_name=last_name,
            username=profile.username,
            created_at=now,
            last_seen_at=now,
        )
        session.add(user)
        await session.flush()
        # A row just inserted has no roles, staff profile or community: say so without asking the
        # database (a refresh cost three statements on every first contact).
        set_committed_value(user, "role_rows", [])
        set_committed_value(user, "social_worker", None)
        set_committed_value(user, "community", None)
        return user
    if (user.first_name, user.last_name, user.username) != (first_name, last_name, profile.username):
        user.first_name, user.last_name, user.username = first_name, last_name, profile.username
    if now - user.last_seen_at >= LAST_SEEN_RESOLUTION:
        user.last_seen_at = now
    if user.blocked_bot_at is not None:
        user.blocked_bot_at = None  # they wrote to us, so they have not blocked the bot
    return user


async def coordinators(session: AsyncSession) -> list[User]:
    stmt = (
        select(User)
        .join(UserRole, (UserRole.user_id == User.id) & (UserRole.role == Role.COORDINATOR))
        .order_by(User.id)
    )
    return list((await session.scalars(stmt)).all())


def set_locale(user: User, locale: str) -> None:
    if locale not in SUPPORTED_LOCALES:
        raise InvalidInput(N_("This language is not available."))
    user.locale = locale


async def _active_community(session: AsyncSession, community_id: int) -> Community:
    community = await session.get(Community, community_id)
    if community is None or not community.active:
        raise NotFound(N_("This community is no longer on the list. Please choose again."))
    return community


async def set_home_community(session: AsyncSession, user: User, community_id: int) -> Community:
    """Where the person lives: their requests go to this community's social workers."""
    community = await _active_community(session, community_id)
    user.community = community
    return community


async def set_work_community(session: AsyncSession, user: User, community_id: int) -> Community:
    """Where a social worker works (chosen once, on joining through an invite).

    Kept apart from where they live, so moving house in the bot never moves a
    social worker's caseload or lets them read another community's requests.
    """
    worker = user.social_worker
    if worker is None or not user.has_role(Role.SOCIAL_WORKER):
        raise PermissionDenied(N_("Only social workers choose a community to work in."))
    if worker.home_community_id is not None:
        raise InvalidState(N_("Your work community is already set. Please ask your coordinator to change it."))
    community = await _active_community(session, community_id)
    worker.home_community = community
    if worker.organization_id is None:
        worker.organization_id = community.organization_id
    if user.community is None:
        user.community = community
    await session.flush()
    return community


async def ensure_coordinators(session: AsyncSession, telegram_ids: list[int], *, now: datetime) -> list[int]:
    """Make these Telegram accounts coordinators (the operator's ADMIN_IDS, or the CLI).

    A person who has not written to the bot yet gets their row now; their names
    arrive with their first message. Returns the ids that were newly granted.
    """
    granted: list[int] = []
    for telegram_id in telegram_ids:
        user = await get_by_telegram_id(session, telegram_id) or await touch_user(
            session, TelegramProfile(telegram_id, first_name=""), now=now
        )
        if await grant_role(session, user, Role.COORDINATOR, now=now):
            granted.append(telegram_id)
    return granted


async def grant_role(
    session: AsyncSession, user: User, role: Role, *, now: datetime, granted_by: User | None = None
) -> bool:
    """Give a role; returns False when the person already had it."""
    if role is Role.RESIDENT:
        return False
    if user.has_role(role):
        return False
    user.role_rows.append(UserRole(role=role, granted_at=now, granted_by_id=granted_by.id if granted_by else None))
    if role is Role.SOCIAL_WORKER and user.social_worker is None:
        # The community they work in is chosen next (set_work_community), not assumed
        # from where they live.
        profile = SocialWorker(user_id=user.id, created_at=now)
        session.add(profile)
        user.social_worker = profile
    await session.flush()
    return True
