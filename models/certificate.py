"""Certificates of volunteer service (志愿服务证明), as issued: anyone can check one by its number."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Certificate(Base):
    """What a certificate said when it was issued: later corrections to records do not change it."""

    __tablename__ = "certificate"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)  # LL-2026-000001
    code: Mapped[str] = mapped_column(String(12))  # a short check code printed beside the number
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.user_id", ondelete="CASCADE"), index=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int]  # verified minutes in all
    activities: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"date", "title", "minutes"}], as issued
    organisation: Mapped[str] = mapped_column(String(200))  # the recording organisation
    issued_at: Mapped[datetime] = mapped_column()
