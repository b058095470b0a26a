"""Finding one's community: a paged list and a search by name."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.errors import N_, NotFound
from bot.services.paging import clamp_page
from models import Community

MAX_QUERY_LENGTH = 50


@dataclass(frozen=True)
class CommunityPage:
    items: list[Community]
    page: int
    pages: int


# Built once: the community question is the first thing every resident sees.
_ACTIVE_COUNT = select(func.count()).select_from(Community).where(Community.active.is_(True))
_ACTIVE_PAGE = (
    select(Community)
    .where(Community.active.is_(True))
    .order_by(Community.district, Community.name)
    .offset(bindparam("offset", type_=Integer))
    .limit(bindparam("limit", type_=Integer))
)


async def list_page(session: AsyncSession, page: int, per_page: int = 6) -> CommunityPage:
    total = await session.scalar(_ACTIVE_COUNT) or 0
    page, pages = clamp_page(total, page, per_page)
    found = await session.scalars(_ACTIVE_PAGE, {"offset": page * per_page, "limit": per_page})
    return CommunityPage(items=list(found.all()), page=page, pages=pages)


async def search(session: AsyncSession, query: str, limit: int = 8) -> list[Community]:
    """Communities whose name (Chinese or English) or street/township contains the words."""
    words = query.strip()[:MAX_QUERY_LENGTH]
    # People often add or drop the 社区/村 suffix; match on the core name too.
    core = words.removesuffix("社区").removesuffix("村") or words
    if not core:
        return []
    needle = core.lower()
    stmt = (
        select(Community)
        .where(
            Community.active.is_(True),
            or_(
                func.lower(Community.name).contains(needle, autoescape=True),
                func.lower(Community.name_en).contains(needle, autoescape=True),
                func.lower(Community.district).contains(needle, autoescape=True),
                func.lower(Community.district_en).contains(needle, autoescape=True),
            ),
        )
        .order_by(Community.district, Community.name)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def get_active(session: AsyncSession, community_id: int) -> Community:
    community = await session.get(Community, community_id)
    if community is None or not community.active:
        raise NotFound(N_("This community is no longer on the list. Please choose again."))
    return community
