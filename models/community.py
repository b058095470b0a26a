"""Where services happen: organisations, and the communities their stations serve."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, str_enum


class AreaType(enum.StrEnum):
    URBAN = "urban"  # 社区
    RURAL = "rural"  # 村


class DistrictKind(enum.StrEnum):
    STREET = "street"  # 街道
    TOWNSHIP = "township"  # 乡镇


class Organization(Base):
    """A social work service organisation (社会工作服务机构) that runs stations."""

    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A stable key for `linli import`: the unified social credit code (统一社会信用代码) or
    # any code the operator keeps; None for rows made before codes existed.
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    name_en: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column()

    communities: Mapped[list[Community]] = relationship(back_populates="organization", lazy="raise")


class Community(Base):
    """An urban community (社区) or a rural village (村) with its social work station."""

    __tablename__ = "community"
    __table_args__ = (UniqueConstraint("district", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # A stable key for `linli import`: the 12-digit administrative division code
    # (统计用区划代码) where the operator has it, or any code they keep.
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100))
    district: Mapped[str] = mapped_column(String(100))  # the street (街道) or township (乡镇)
    district_en: Mapped[str | None] = mapped_column(String(100))
    district_kind: Mapped[DistrictKind] = mapped_column(str_enum(DistrictKind, "district_kind"))
    area_type: Mapped[AreaType] = mapped_column(str_enum(AreaType, "area_type"))
    station_name: Mapped[str | None] = mapped_column(String(200))
    station_phone: Mapped[str | None] = mapped_column(String(32))  # E.164; told to residents with each status change
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="SET NULL"))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column()

    organization: Mapped[Organization | None] = relationship(back_populates="communities", lazy="raise")

    def display_name(self, locale: str) -> str:
        if locale != "zh_CN" and self.name_en:
            return self.name_en
        return self.name

    def display_district(self, locale: str) -> str:
        if locale != "zh_CN" and self.district_en:
            return self.district_en
        return self.district
