"""The service catalogue: loading it from its data file and reading it for a community."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import AreaType, Community, ServiceCategory, TargetGroup

CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "data" / "catalogue.toml"


@dataclass(frozen=True)
class LoadReport:
    target_groups: int
    categories: int


async def load_catalogue(session: AsyncSession, path: Path = CATALOGUE_FILE) -> LoadReport:
    """Upsert the catalogue by code, so re-seeding edits names without breaking requests."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    groups = {g.code: g for g in (await session.scalars(select(TargetGroup))).all()}
    for order, item in enumerate(data.get("target_group", [])):
        group = groups.get(item["code"]) or TargetGroup(code=item["code"])
        group.name_zh, group.name_en, group.sort_order = item["name_zh"], item["name_en"], order
        session.add(group)
        groups[group.code] = group
    await session.flush()

    categories = {c.code: c for c in (await session.scalars(select(ServiceCategory))).all()}
    for order, item in enumerate(data.get("service", [])):
        if item["target_group"] not in groups:
            raise ValueError(f"service {item['code']}: unknown target group {item['target_group']}")
        category = categories.get(item["code"]) or ServiceCategory(code=item["code"])
        category.target_group_code = item["target_group"]
        category.service_type = item["type"]
        category.name_zh = item["name_zh"]
        category.name_en = item["name_en"]
        category.urban = bool(item.get("urban", True))
        category.rural = bool(item.get("rural", False))
        category.response_minutes = int(item.get("response_minutes", 1440))
        category.resolution_minutes = int(item.get("resolution_minutes", 7 * 1440))
        category.offer_minutes = int(item.get("offer_minutes", 30))
        category.volunteers_allowed = bool(item.get("volunteers", False))
        category.example_zh = item.get("example_zh")
        category.example_en = item.get("example_en")
        category.sort_order = order
        category.active = True
        session.add(category)
        categories[category.code] = category
    await session.flush()
    return LoadReport(target_groups=len(data.get("target_group", [])), categories=len(data.get("service", [])))


def _offered_in(area: AreaType):  # noqa: ANN202 - a SQL expression
    return ServiceCategory.urban.is_(True) if area is AreaType.URBAN else ServiceCategory.rural.is_(True)


# Built once per kind of community: residents read them at every step of /new, and
# building a statement (and its cache key) costs more than running it.
_TARGET_GROUPS = {
    area: select(TargetGroup)
    .where(
        TargetGroup.code.in_(
            select(ServiceCategory.target_group_code).where(ServiceCategory.active.is_(True), _offered_in(area))
        )
    )
    .order_by(TargetGroup.sort_order)
    for area in AreaType
}
_SERVICES = {
    area: select(ServiceCategory)
    .where(
        ServiceCategory.target_group_code == bindparam("group_code"),
        ServiceCategory.active.is_(True),
        _offered_in(area),
    )
    .order_by(ServiceCategory.sort_order)
    for area in AreaType
}


async def target_groups_for(session: AsyncSession, community: Community) -> list[TargetGroup]:
    """Target groups that have at least one service offered in this kind of community."""
    return list((await session.scalars(_TARGET_GROUPS[community.area_type])).all())


async def services_for(session: AsyncSession, community: Community, group_code: str) -> list[ServiceCategory]:
    return list((await session.scalars(_SERVICES[community.area_type], {"group_code": group_code})).all())


async def offered_categories(
    session: AsyncSession, community: Community, *, volunteers_only: bool = False
) -> list[ServiceCategory]:
    """Every active service offered in this kind of community (those open to volunteers, if asked), in order."""
    stmt = select(ServiceCategory).where(ServiceCategory.active.is_(True), _offered_in(community.area_type))
    if volunteers_only:
        stmt = stmt.where(ServiceCategory.volunteers_allowed.is_(True))
    return list((await session.scalars(stmt.order_by(ServiceCategory.sort_order))).all())


async def offered_category(session: AsyncSession, community: Community, category_id: int) -> ServiceCategory | None:
    """The category if it exists and is offered in this community, else None."""
    category = await session.get(ServiceCategory, category_id)
    if category is None or not category.active:
        return None
    offered = category.urban if community.area_type is AreaType.URBAN else category.rural
    return category if offered else None
