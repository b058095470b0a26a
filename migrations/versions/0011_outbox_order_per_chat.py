"""outbox order per chat

An index for the sender's check that nothing older is still unsent to a chat, so that a
chat's messages are claimed (by any replica) one at a time, in the order they were written.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 12:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_index("ix_outgoing_message_open_chat", "outgoing_message", ["chat_id", "id"],
                    postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index("ix_outgoing_message_open_chat", table_name="outgoing_message")
