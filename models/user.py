"""People: one Telegram account each, their roles, and staff profiles and invites."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, str_enum
from models.community import Community, Organization


class Role(enum.StrEnum):
    RESIDENT = "resident"  # everyone; never stored
    VOLUNTEER = "volunteer"
    SOCIAL_WORKER = "social_worker"
    COORDINATOR = "coordinator"


STAFF_ROLES = (Role.SOCIAL_WORKER, Role.COORDINATOR)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    first_name: Mapped[str] = mapped_column(String(128), default="")
    last_name: Mapped[str | None] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(64))
    real_name: Mapped[str | None] = mapped_column(String(64))
    # None until the person picks a language; the default locale applies meanwhile.
    locale: Mapped[str | None] = mapped_column(String(8))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id", ondelete="SET NULL"))
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_consent_at: Mapped[datetime | None]
    blocked_bot_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()

    community: Mapped[Community | None] = relationship(lazy="joined")
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", lazy="selectin", cascade="all, delete-orphan", foreign_keys="UserRole.user_id"
    )
    social_worker: Mapped[SocialWorker | None] = relationship(
        back_populates="user", lazy="selectin", uselist=False
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset({Role.RESIDENT, *(row.role for row in self.role_rows)})

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    @property
    def display_name(self) -> str:
        if self.real_name:
            return self.real_name
        return " ".join(part for part in (self.first_name, self.last_name) if part) or str(self.telegram_id)


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column()
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(back_populates="role_rows", foreign_keys=[user_id], lazy="raise")


class SocialWorker(Base):
    """The staff profile of a social worker (社工): where they work and how much."""

    __tablename__ = "social_worker"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    home_community_id: Mapped[int | None] = mapped_column(
        ForeignKey("community.id", ondelete="SET NULL"), index=True
    )
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="SET NULL"))
    is_supervisor: Mapped[bool] = mapped_column(default=False)
    on_duty: Mapped[bool] = mapped_column(default=True)
    capacity: Mapped[int] = mapped_column(default=10)
    created_at: Mapped[datetime] = mapped_column()

    user: Mapped[User] = relationship(back_populates="social_worker", lazy="raise")
    home_community: Mapped[Community | None] = relationship(lazy="joined")
    organization: Mapped[Organization | None] = relationship(lazy="raise")
    specialties: Mapped[list[WorkerSpecialty]] = relationship(
        back_populates="worker", cascade="all, delete-orphan", lazy="raise"
    )
    support_assignments: Mapped[list[SupportAssignment]] = relationship(
        back_populates="worker", cascade="all, delete-orphan", lazy="raise"
    )


class WorkerSpecialty(Base):
    """A service category a social worker is qualified for (routing prefers them for it)."""

    __tablename__ = "worker_specialty"

    worker_id: Mapped[int] = mapped_column(ForeignKey("social_worker.user_id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[int] = mapped_column(
        ForeignKey("service_category.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    worker: Mapped[SocialWorker] = relationship(back_populates="specialties", lazy="raise")


class SupportAssignment(Base):
    """A time-boxed assignment of a social worker to support another community (the "three areas plan").

    Valid from ``starts_on`` to ``ends_on`` inclusive, as dates in the community's time zone.
    """

    __tablename__ = "support_assignment"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period"),
        Index("ix_support_assignment_community_period", "community_id", "starts_on", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("social_worker.user_id", ondelete="CASCADE"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete="CASCADE"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column()

    worker: Mapped[SocialWorker] = relationship(back_populates="support_assignments", lazy="raise")
    community: Mapped[Community] = relationship(lazy="raise")


class Invite(Base):
    """A single-use, expiring staff invite, redeemed through `/start inv_<token>`.

    A coordinator's `/invite` makes a bare one; `linli import` makes one per social
    worker of the district's list (no creator), carrying who they are and where they
    work, so that redeeming it sets up their profile. Imported invites are found again
    by the normalised phone number, which keeps re-importing idempotent.
    """

    __tablename__ = "invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(48), unique=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    # None: made by the operator's import, not by a coordinator in chat.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime]
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    used_at: Mapped[datetime | None]
    # What the import knows of the invited social worker (all None for a coordinator's invite).
    name: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # E.164
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id", ondelete="SET NULL"))
    # None: the community's own organisation.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="SET NULL"))
    is_supervisor: Mapped[bool] = mapped_column(default=False, server_default=false())
