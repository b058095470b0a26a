"""Seeding: the catalogue, and the named sample world of DESIGN.md."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.catalogue import load_catalogue
from bot.services.users import grant_role
from models import AreaType, Community, DistrictKind, Organization, Role, User

SAMPLE_FILE = Path(__file__).resolve().parent.parent / "data" / "sample_world.toml"


@dataclass(frozen=True)
class SampleWorld:
    communities: dict[str, Community]
    people: dict[str, User]


async def seed_sample(
    session: AsyncSession,
    *,
    now: datetime,
    residents: bool = True,
    timezone: str = "Asia/Shanghai",
    path: Path = SAMPLE_FILE,
) -> SampleWorld:
    """Load the catalogue and the sample world; running it again changes nothing.

    Communities get the operator's TIMEZONE, so request numbers, timelines and
    notices all read the same clock.
    """
    await load_catalogue(session)
    data = tomllib.loads(path.read_text(encoding="utf-8"))

    organizations: dict[str, Organization] = {}
    for item in data.get("organization", []):
        org = await session.scalar(select(Organization).where(Organization.name == item["name"]))
        if org is None:
            org = Organization(name=item["name"], name_en=item.get("name_en"), created_at=now)
            session.add(org)
        organizations[org.name] = org
    await session.flush()

    communities: dict[str, Community] = {}
    for item in data.get("community", []):
        community = await session.scalar(
            select(Community).where(Community.district == item["district"], Community.name == item["name"])
        )
        if community is None:
            community = Community(name=item["name"], district=item["district"], created_at=now)
            session.add(community)
        community.name_en = item.get("name_en")
        community.district_en = item.get("district_en")
        community.district_kind = DistrictKind(item["district_kind"])
        community.area_type = AreaType(item["area_type"])
        community.station_name = item.get("station")
        community.station_phone = item.get("station_phone")
        community.timezone = item.get("timezone", timezone)
        community.organization = organizations.get(item.get("organization", ""))
        communities[community.name] = community
    await session.flush()

    people: dict[str, User] = {}
    for item in data.get("person", []):
        if not residents and not item.get("roles"):
            continue
        user = await session.scalar(select(User).where(User.telegram_id == item["telegram_id"]))
        if user is None:
            user = User(telegram_id=item["telegram_id"], first_name=item["name"], created_at=now, last_seen_at=now)
            session.add(user)
            await session.flush()
            await session.refresh(user, ["role_rows", "social_worker", "community"])
        user.real_name = item["name"]
        user.locale = item.get("locale")
        home = item.get("community") or item.get("home_community")
        user.community = communities[home] if home else None
        await session.flush()
        for role in item.get("roles", []):
            await grant_role(session, user, Role(role), now=now)
        if user.social_worker is not None:
            user.social_worker.home_community = communities[item["home_community"]]
            user.social_worker.organization = organizations.get(item.get("organization", ""))
            user.social_worker.is_supervisor = bool(item.get("supervisor", False))
        people[item["key"]] = user
    await session.flush()
    return SampleWorld(communities=communities, people=people)
