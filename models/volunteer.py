"""Registered volunteers (志愿者) with the fields of the national volunteer service record.

The 2017 Volunteer Service Regulations and the Ministry of Civil Affairs' 2020 measures
on volunteer service records ask for the volunteer's real name, sex, date of birth, ID
document, contact, skills and service intentions, with their consent. The ID number is
kept masked except its last four characters.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, str_enum
from models.community import Community


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"


class IdDocument(enum.StrEnum):
    """ID documents a volunteer may register with (as the national system accepts)."""

    RESIDENT_ID = "resident_id"  # 居民身份证 (mainland resident identity card)
    HK_MACAU = "hk_macau"  # 港澳居民来往内地通行证 / 居住证
    TAIWAN = "taiwan"  # 台湾居民来往大陆通行证 / 居住证
    PASSPORT = "passport"  # 护照
    FOREIGN_PERMANENT = "foreign_permanent"  # 外国人永久居留身份证


class VolunteerStatus(enum.StrEnum):
    PENDING = "pending"  # registered, waiting for a social worker's approval
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class Volunteer(Base):
    __tablename__ = "volunteer"
    __table_args__ = (
        Index("ix_volunteer_community_status", "community_id", "status", "last_offered_at"),
        Index("ix_volunteer_status_offered", "status", "last_offered_at"),
        CheckConstraint("guardian_consent_at IS NOT NULL OR guardian_name IS NULL", name="guardian_consent"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    real_name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[Sex] = mapped_column(str_enum(Sex, "sex"))
    birth_date: Mapped[date] = mapped_column(Date)
    id_type: Mapped[IdDocument] = mapped_column(str_enum(IdDocument, "id_type"))
    id_number_masked: Mapped[str] = mapped_column(String(32))  # all but the last four characters masked
    phone: Mapped[str] = mapped_column(String(32))  # E.164
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete="RESTRICT"))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)  # codes from bot/services/volunteers.SKILLS
    skills_other: Mapped[str | None] = mapped_column(String(200))  # their own words
    interests: Mapped[list[int]] = mapped_column(JSON, default=list)  # service category ids
    consent_at: Mapped[datetime]  # consent to the use of these data for volunteer service
    # Under 16: a guardian's consent (name, phone, when), as the Regulations require.
    guardian_name: Mapped[str | None] = mapped_column(String(64))
    guardian_phone: Mapped[str | None] = mapped_column(String(32))
    guardian_consent_at: Mapped[datetime | None]
    status: Mapped[VolunteerStatus] = mapped_column(str_enum(VolunteerStatus, "status"),
                                                    default=VolunteerStatus.PENDING)
    volunteer_number: Mapped[str | None] = mapped_column(String(32), unique=True)  # given on approval
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None]
    status_reason: Mapped[str | None] = mapped_column(Text)  # why rejected or suspended
    # Where they usually set out from, when they shared it: dispatch prefers the nearest.
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    # Dispatch looks at those offered longest ago first, so offers rotate fairly.
    last_offered_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()

    community: Mapped[Community] = relationship(lazy="joined")
    availability: Mapped[list[VolunteerAvailability]] = relationship(
        back_populates="volunteer", cascade="all, delete-orphan", order_by="VolunteerAvailability.id",
        lazy="raise",
    )


class VolunteerAvailability(Base):
    """A weekly window when the volunteer can serve: a weekday (0 Monday) and local times."""

    __tablename__ = "volunteer_availability"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("ends_at > starts_at", name="window_order"),
        # Dispatch asks, per candidate, "a window on this weekday covering the task?": the volunteer first,
        # so the check reads that volunteer's few windows (a weekday-first index made SQLite scan everyone's).
        Index("ix_volunteer_availability_volunteer_weekday", "volunteer_id", "weekday", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.user_id", ondelete="CASCADE"))
    weekday: Mapped[int]
    starts_at: Mapped[time] = mapped_column(Time)
    ends_at: Mapped[time] = mapped_column(Time)

    volunteer: Mapped[Volunteer] = relationship(back_populates="availability", lazy="raise")


class VolunteerCounter(Base):
    """Per-year sequence behind volunteer numbers such as ZY2026000123."""

    __tablename__ = "volunteer_counter"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(default=0)
