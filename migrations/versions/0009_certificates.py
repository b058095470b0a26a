"""certificates

- `certificate`: a certificate of volunteer service as issued (number, check code, the
  period, verified minutes, the activities and the recording organisation), so that
  anyone can check it by its number later.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 06:46:52.770941
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=24), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('activities', sa.JSON(), nullable=False),
    sa.Column('organisation', sa.String(length=200), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.user_id'], name=op.f('fk_certificate_volunteer_id_volunteer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate')),
    sa.UniqueConstraint('number', name=op.f('uq_certificate_number'))
    )
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_volunteer_id'), ['volunteer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_volunteer_id'))

    op.drop_table('certificate')
