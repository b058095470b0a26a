"""delivery across processes

- `outgoing_message.claimed_by`: the sender process that holds a row in 'sending', so
  rows of a process that died mid-broadcast go back to the queue at once instead of
  after a timeout, and rows of a live process are never taken from it.
- `reminder.status` may be 'skipped': a reminder that fell due while every process was
  down and is stale by its kind's rule when they come back.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 08:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES_BEFORE = ("pending", "done", "cancelled", "failed")
STATUSES = (*STATUSES_BEFORE, "skipped")


def upgrade() -> None:
    with op.batch_alter_table('outgoing_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
    # Batch mode: SQLite changes a CHECK constraint only by rebuilding the table.
    with op.batch_alter_table("reminder") as batch_op:
        batch_op.drop_constraint(op.f("ck_reminder_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_reminder_status"), sa.column("status").in_(STATUSES))


def downgrade() -> None:
    op.execute("UPDATE reminder SET status = 'cancelled' WHERE status = 'skipped'")
    with op.batch_alter_table("reminder") as batch_op:
        batch_op.drop_constraint(op.f("ck_reminder_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_reminder_status"), sa.column("status").in_(STATUSES_BEFORE))
    with op.batch_alter_table('outgoing_message', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
