"""volunteers: registration with the national record's fields, availability, numbers

- `volunteer`: real name, sex, date of birth, ID document type and masked number,
  phone, community, skills, service interests, consent (and a guardian's for under 16),
  review status and the volunteer number given on approval.
- `volunteer_availability`: weekly windows (weekday, local start and end time).
- `volunteer_counter`: the per-year sequence behind volunteer numbers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 03:40:46
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('volunteer_counter',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_volunteer_counter'))
    )
    op.create_table('volunteer',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('real_name', sa.String(length=64), nullable=False),
    sa.Column('sex', sa.Enum('female', 'male', name='sex', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('id_type', sa.Enum('resident_id', 'hk_macau', 'taiwan', 'passport', 'foreign_permanent', name='id_type', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('id_number_masked', sa.String(length=32), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('skills_other', sa.String(length=200), nullable=True),
    sa.Column('interests', sa.JSON(), nullable=False),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('guardian_name', sa.String(length=64), nullable=True),
    sa.Column('guardian_phone', sa.String(length=32), nullable=True),
    sa.Column('guardian_consent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Enum('pending', 'approved', 'rejected', 'suspended', name='status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('volunteer_number', sa.String(length=32), nullable=True),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('guardian_consent_at IS NOT NULL OR guardian_name IS NULL', name=op.f('ck_volunteer_guardian_consent')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_volunteer_community_id_community'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['app_user.id'], name=op.f('fk_volunteer_reviewed_by_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_volunteer_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_volunteer')),
    sa.UniqueConstraint('volunteer_number', name=op.f('uq_volunteer_volunteer_number'))
    )
    with op.batch_alter_table('volunteer', schema=None) as batch_op:
        batch_op.create_index('ix_volunteer_community_status', ['community_id', 'status'], unique=False)

    op.create_table('volunteer_availability',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.Time(), nullable=False),
    sa.Column('ends_at', sa.Time(), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_volunteer_availability_window_order')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_volunteer_availability_weekday_range')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.user_id'], name=op.f('fk_volunteer_availability_volunteer_id_volunteer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_availability'))
    )
    with op.batch_alter_table('volunteer_availability', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteer_availability_volunteer_id'), ['volunteer_id'], unique=False)
        batch_op.create_index('ix_volunteer_availability_weekday', ['weekday', 'starts_at', 'ends_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('volunteer_availability', schema=None) as batch_op:
        batch_op.drop_index('ix_volunteer_availability_weekday')
        batch_op.drop_index(batch_op.f('ix_volunteer_availability_volunteer_id'))

    op.drop_table('volunteer_availability')
    with op.batch_alter_table('volunteer', schema=None) as batch_op:
        batch_op.drop_index('ix_volunteer_community_status')

    op.drop_table('volunteer')
    op.drop_table('volunteer_counter')
