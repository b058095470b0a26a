"""The service catalogue: target groups x service types from the policy."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base


class TargetGroup(Base):
    """Who a service is for: elderly people, minors, left-behind children…"""

    __tablename__ = "target_group"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    sort_order: Mapped[int] = mapped_column(default=0)

    categories: Mapped[list[ServiceCategory]] = relationship(back_populates="target_group", lazy="raise")

    def display_name(self, locale: str) -> str:
        return self.name_zh if locale == "zh_CN" else self.name_en


class ServiceCategory(Base):
    """One service a resident can ask for, with where it is offered and how fast."""

    __tablename__ = "service_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    target_group_code: Mapped[str] = mapped_column(ForeignKey("target_group.code", ondelete="RESTRICT"))
    service_type: Mapped[str] = mapped_column(String(40))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    urban: Mapped[bool] = mapped_column(default=True)
    rural: Mapped[bool] = mapped_column(default=False)
    # Deadlines: accepted within `response_minutes` (the receipt's promise), resolved within
    # `resolution_minutes` of acceptance; an offer to one worker waits `offer_minutes` for an answer.
    response_minutes: Mapped[int] = mapped_column(default=24 * 60)
    resolution_minutes: Mapped[int] = mapped_column(default=7 * 24 * 60)
    offer_minutes: Mapped[int] = mapped_column(default=30)
    volunteers_allowed: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    # What a resident might write for this service, shown as an example at the description step.
    example_zh: Mapped[str | None] = mapped_column(Text)
    example_en: Mapped[str | None] = mapped_column(Text)

    target_group: Mapped[TargetGroup] = relationship(back_populates="categories", lazy="raise")

    def display_name(self, locale: str) -> str:
        return self.name_zh if locale == "zh_CN" else self.name_en

    def example(self, locale: str) -> str | None:
        return self.example_zh if locale == "zh_CN" else self.example_en
