"""cases run in chat: offers, deadlines, escalation, messages, rating

- `case_offer`: a case offered to one social worker (Accept / Decline / timed out).
- `service_category.resolution_minutes` and `offer_minutes` (with `response_minutes`, the
  deadlines of a case).
- `service_request`: `resolve_by`, `accepted_at`, `overdue_at`, and the resident's
  `rating` (1-5), `rating_comment`, `rated_at`.
- `community.station_phone`: told to residents with each status change.
- `reminder.last_error` and the reminder status `failed`; an index to find a request's reminders.
- request event kinds for offers, urgency, deadlines, notes, messages, hand-over, rating, reopening.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = ("created", "announced", "status_changed", "cancelled", "note", "routed")
KINDS = (
    *KINDS_BEFORE,
    "offered", "declined", "offer_expired", "offer_withdrawn", "urgent", "overdue", "escalated",
    "internal_note", "message", "reply", "handed_over", "rated", "reopened",
)
REMINDER_STATUSES_BEFORE = ("pending", "done", "cancelled")
REMINDER_STATUSES = (*REMINDER_STATUSES_BEFORE, "failed")


def upgrade() -> None:
    op.create_table(
        "case_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("decline_reason", sa.String(length=24), nullable=True),
        sa.Column("decline_note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'expired', 'withdrawn')", name=op.f("ck_case_offer_status")
        ),
        sa.CheckConstraint(
            "decline_reason IN ('capacity', 'not_specialty', 'conflict', 'unavailable', 'other')",
            name=op.f("ck_case_offer_decline_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["service_request.id"], name=op.f("fk_case_offer_request_id_service_request"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["app_user.id"], name=op.f("fk_case_offer_worker_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_offer")),
    )
    op.create_index("ix_case_offer_request_status", "case_offer", ["request_id", "status"], unique=False)
    op.create_index("ix_case_offer_worker_status", "case_offer", ["worker_id", "status"], unique=False)

    op.add_column("service_category", sa.Column("resolution_minutes", sa.Integer(), nullable=False,
                                                server_default=str(7 * 24 * 60)))
    op.add_column("service_category", sa.Column("offer_minutes", sa.Integer(), nullable=False, server_default="30"))
    op.add_column("community", sa.Column("station_phone", sa.String(length=32), nullable=True))
    op.create_index("ix_reminder_request_kind", "reminder", ["request_id", "kind"], unique=False)

    with op.batch_alter_table("service_request") as batch_op:
        batch_op.add_column(sa.Column("resolve_by", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rating_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_service_request_rating_range"), sa.text("rating IS NULL OR rating BETWEEN 1 AND 5")
        )
    # Batch mode: SQLite changes a CHECK constraint only by rebuilding the table.
    with op.batch_alter_table("request_event") as batch_op:
        batch_op.drop_constraint(op.f("ck_request_event_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_request_event_kind"), sa.column("kind").in_(KINDS))
    with op.batch_alter_table("reminder") as batch_op:
        batch_op.add_column(sa.Column("last_error", sa.String(length=500), nullable=True))
        batch_op.drop_constraint(op.f("ck_reminder_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_reminder_status"), sa.column("status").in_(REMINDER_STATUSES))


def downgrade() -> None:
    op.execute("UPDATE reminder SET status = 'cancelled' WHERE status = 'failed'")
    with op.batch_alter_table("reminder") as batch_op:
        batch_op.drop_constraint(op.f("ck_reminder_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_reminder_status"), sa.column("status").in_(REMINDER_STATUSES_BEFORE))
        batch_op.drop_column("last_error")
    op.execute(f"DELETE FROM request_event WHERE kind NOT IN ({', '.join(repr(k) for k in KINDS_BEFORE)})")
    with op.batch_alter_table("request_event") as batch_op:
        batch_op.drop_constraint(op.f("ck_request_event_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_request_event_kind"), sa.column("kind").in_(KINDS_BEFORE))
    with op.batch_alter_table("service_request") as batch_op:
        batch_op.drop_constraint(op.f("ck_service_request_rating_range"), type_="check")
        for column in ("rated_at", "rating_comment", "rating", "overdue_at", "accepted_at", "resolve_by"):
            batch_op.drop_column(column)
    op.drop_index("ix_reminder_request_kind", table_name="reminder")
    op.drop_column("community", "station_phone")
    op.drop_column("service_category", "offer_minutes")
    op.drop_column("service_category", "resolution_minutes")
    op.drop_index("ix_case_offer_worker_status", table_name="case_offer")
    op.drop_index("ix_case_offer_request_status", table_name="case_offer")
    op.drop_table("case_offer")
