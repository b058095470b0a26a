"""social worker profiles for routing: specialties, support assignments, routing events

- `worker_specialty`: the service categories a social worker is qualified for.
- `support_assignment`: a worker supports another community from one date to another
  (the policy's "three areas plan").
- `request_event.subject_id` (whom an event concerns: the worker a request was routed
  to) and `request_event.reason` (a stable code: why); the event kind `routed`.
- indexes routing reads on every decision: open cases per worker, workers per community.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = ("created", "announced", "status_changed", "cancelled", "note")
KINDS = (*KINDS_BEFORE, "routed")


def upgrade() -> None:
    op.create_table(
        "worker_specialty",
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"], ["service_category.id"], name=op.f("fk_worker_specialty_category_id_service_category"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["social_worker.user_id"], name=op.f("fk_worker_specialty_worker_id_social_worker"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("worker_id", "category_id", name=op.f("pk_worker_specialty")),
    )
    op.create_index(op.f("ix_worker_specialty_category_id"), "worker_specialty", ["category_id"], unique=False)

    op.create_table(
        "support_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_support_assignment_period")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_support_assignment_community_id_community"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"], name=op.f("fk_support_assignment_created_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["social_worker.user_id"], name=op.f("fk_support_assignment_worker_id_social_worker"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_assignment")),
    )
    op.create_index(
        "ix_support_assignment_community_period", "support_assignment", ["community_id", "starts_on", "ends_on"],
        unique=False,
    )
    op.create_index(op.f("ix_support_assignment_worker_id"), "support_assignment", ["worker_id"], unique=False)

    op.create_index(
        "ix_service_request_assigned_worker_status", "service_request", ["assigned_worker_id", "status"], unique=False
    )
    op.create_index(op.f("ix_social_worker_home_community_id"), "social_worker", ["home_community_id"], unique=False)

    # Batch mode: SQLite changes a CHECK constraint or adds a foreign key only by rebuilding the table.
    with op.batch_alter_table("request_event") as batch_op:
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_request_event_subject_id_app_user"), "app_user", ["subject_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.drop_constraint(op.f("ck_request_event_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_request_event_kind"), sa.column("kind").in_(KINDS))


def downgrade() -> None:
    op.execute("DELETE FROM request_event WHERE kind = 'routed'")
    with op.batch_alter_table("request_event") as batch_op:
        batch_op.drop_constraint(op.f("ck_request_event_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_request_event_kind"), sa.column("kind").in_(KINDS_BEFORE))
        batch_op.drop_constraint(op.f("fk_request_event_subject_id_app_user"), type_="foreignkey")
        batch_op.drop_column("reason")
        batch_op.drop_column("subject_id")
    op.drop_index(op.f("ix_social_worker_home_community_id"), table_name="social_worker")
    op.drop_index("ix_service_request_assigned_worker_status", table_name="service_request")
    op.drop_index(op.f("ix_support_assignment_worker_id"), table_name="support_assignment")
    op.drop_index("ix_support_assignment_community_period", table_name="support_assignment")
    op.drop_table("support_assignment")
    op.drop_index(op.f("ix_worker_specialty_category_id"), table_name="worker_specialty")
    op.drop_table("worker_specialty")
