"""real world import: stable codes, and invites that carry who is invited

Communities and organisations get a `code` (unique, nullable for rows made before
codes existed) that `linli import` upserts by. Invites may now be made by the import
(no creator) and carry the invited social worker's name, phone, community,
organisation and supervisor flag.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_organization_code"), ["code"])

    with op.batch_alter_table("community", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_community_code"), ["code"])

    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.alter_column("created_by_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("name", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("community_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("organization_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("is_supervisor", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f("ix_invite_phone"), ["phone"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_invite_community_id_community"), "community", ["community_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_invite_organization_id_organization"),
            "organization",
            ["organization_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    # Imported invites have no creator, which 0001 cannot hold: they go with this revision.
    op.execute(sa.text("DELETE FROM invite WHERE created_by_id IS NULL"))
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_invite_organization_id_organization"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_invite_community_id_community"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_invite_phone"))
        batch_op.drop_column("is_supervisor")
        batch_op.drop_column("organization_id")
        batch_op.drop_column("community_id")
        batch_op.drop_column("phone")
        batch_op.drop_column("name")
        batch_op.alter_column("created_by_id", existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table("community", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_community_code"), type_="unique")
        batch_op.drop_column("code")

    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_organization_code"), type_="unique")
        batch_op.drop_column("code")
