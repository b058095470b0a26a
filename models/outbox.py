"""The transactional outbox: notices waiting to be rendered and sent."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, str_enum


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"  # kept failing, or the recipient blocked the bot


class OutgoingMessage(Base):
    __tablename__ = "outgoing_message"
    __table_args__ = (
        Index("ix_outgoing_message_due", "status", "next_attempt_at"),
        # The sender's "nothing older unsent to this chat" check (bot/delivery/sender.py).
        Index("ix_outgoing_message_open_chat", "chat_id", "id",
              postgresql_where=text("status IN ('pending', 'sending')"),
              sqlite_where=text("status IN ('pending', 'sending')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The msgid of the message template and its parameters; rendered at send time
    # in the recipient's language.
    template: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    buttons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[OutboxStatus] = mapped_column(str_enum(OutboxStatus, "status"), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None]
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # The sender process holding a row in 'sending' (bot/delivery/sender.py): a process that
    # died mid-send is known by its id, and its rows go back to the queue.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
