"""residents ask the way they talk: media attachments, whose phone number, service examples

- `request_attachment`: photos, voice messages and video notes of a request, kept by
  Telegram file_id (given when filing, or added later with an event).
- `service_request.contact_relation/contact_name/contact_consent_at`: whose number the
  request gives (self, family member, other contact), their name, and when consent was
  given. Numbers given before this revision were shared with the consent button, so
  they are the resident's own, consented when the request was filed.
- `service_category.example_zh/example_en`: an example description per service
  (`linli seed` fills them, and adds the "other / not sure" group).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RELATIONS = ("self", "family", "other")


def upgrade() -> None:
    op.create_table(
        "request_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("photo", "voice", "video_note", name="kind", native_enum=False, create_constraint=True, length=24),
            nullable=False,
        ),
        sa.Column("file_id", sa.String(length=255), nullable=False),
        sa.Column("file_unique_id", sa.String(length=64), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["app_user.id"], name=op.f("fk_request_attachment_added_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["request_event.id"], name=op.f("fk_request_attachment_event_id_request_event"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["service_request.id"], name=op.f("fk_request_attachment_request_id_service_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_attachment")),
    )
    op.create_index(op.f("ix_request_attachment_request_id"), "request_attachment", ["request_id"], unique=False)

    op.add_column("service_category", sa.Column("example_zh", sa.Text(), nullable=True))
    op.add_column("service_category", sa.Column("example_en", sa.Text(), nullable=True))

    # Batch mode: SQLite adds a CHECK constraint only by rebuilding the table.
    with op.batch_alter_table("service_request") as batch_op:
        batch_op.add_column(
            sa.Column(
                "contact_relation",
                sa.Enum(*RELATIONS, name="contact_relation", native_enum=False, create_constraint=False, length=24),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("contact_name", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("contact_consent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_service_request_contact_relation"), sa.column("contact_relation").in_(RELATIONS)
        )
    # Numbers given so far came from the "share my phone number" consent button.
    op.execute(
        "UPDATE service_request SET contact_relation = 'self', contact_consent_at = created_at "
        "WHERE contact_phone IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("service_request") as batch_op:
        batch_op.drop_constraint(op.f("ck_service_request_contact_relation"), type_="check")
        batch_op.drop_column("contact_consent_at")
        batch_op.drop_column("contact_name")
        batch_op.drop_column("contact_relation")
    with op.batch_alter_table("service_category") as batch_op:
        batch_op.drop_column("example_en")
        batch_op.drop_column("example_zh")
    op.drop_index(op.f("ix_request_attachment_request_id"), table_name="request_attachment")
    op.drop_table("request_attachment")
