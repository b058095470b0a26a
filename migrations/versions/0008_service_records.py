"""service records

- `service_record`: one per volunteer and task, from check-in (time, optional location
  and its distance from the task's place) to check-out (minutes served), then the social
  worker's verification (verified or adjusted minutes, by whom, when, why) or rejection,
  and a volunteer's request for correction.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 06:16:49.806311
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('service_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('checked_in', 'no_checkout', 'pending', 'verified', 'adjusted', 'rejected', 'correction', name='status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checked_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('distance_m', sa.Integer(), nullable=True),
    sa.Column('minutes', sa.Integer(), nullable=True),
    sa.Column('verified_minutes', sa.Integer(), nullable=True),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('correction_note', sa.Text(), nullable=True),
    sa.Column('flagged', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('checked_out_at IS NULL OR checked_out_at > checked_in_at', name=op.f('ck_service_record_record_period')),
    sa.CheckConstraint('minutes IS NULL OR minutes > 0', name=op.f('ck_service_record_record_minutes')),
    sa.ForeignKeyConstraint(['assignment_id'], ['task_assignment.id'], name=op.f('fk_service_record_assignment_id_task_assignment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['volunteer_task.id'], name=op.f('fk_service_record_task_id_volunteer_task'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['verified_by_id'], ['app_user.id'], name=op.f('fk_service_record_verified_by_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.user_id'], name=op.f('fk_service_record_volunteer_id_volunteer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_record')),
    sa.UniqueConstraint('assignment_id', name=op.f('uq_service_record_assignment_id'))
    )
    with op.batch_alter_table('service_record', schema=None) as batch_op:
        batch_op.create_index('ix_service_record_task', ['task_id'], unique=False)
        batch_op.create_index('ix_service_record_volunteer_status', ['volunteer_id', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('service_record', schema=None) as batch_op:
        batch_op.drop_index('ix_service_record_volunteer_status')
        batch_op.drop_index('ix_service_record_task')

    op.drop_table('service_record')
