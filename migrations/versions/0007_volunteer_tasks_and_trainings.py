"""volunteer tasks and trainings

- `volunteer_task`: a case's, group's or community's activity (place, UTC period, needed
  count, required skills), its owner and how many offer waves went out.
- `task_assignment`: each volunteer's offer and answer (accepted, waitlisted, declined,
  withdrawn, expired, cancelled).
- `training`, `training_attendee`: trainings recorded for volunteers.
- `volunteer`: an optional location and `last_offered_at` (dispatch rotates offers).
- `volunteer_availability`: one index led by the volunteer (dispatch's per-candidate check)
  instead of a weekday-first one and a volunteer-only one.
- `reminder.task_id`: task reminders are cancelled with their task.
- request event kinds for a case's volunteer task.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 05:18:28.542766
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

KINDS_BEFORE = (
    "created", "announced", "status_changed", "cancelled", "note", "routed", "offered", "declined",
    "offer_expired", "offer_withdrawn", "urgent", "overdue", "escalated", "internal_note", "message", "reply",
    "handed_over", "rated", "reopened",
)
KINDS = (*KINDS_BEFORE, "task_created", "volunteer_coming", "volunteer_withdrawn", "task_cancelled")

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('training',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('organiser', sa.String(length=100), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('minutes > 0', name=op.f('ck_training_training_minutes')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_training_community_id_community'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['app_user.id'], name=op.f('fk_training_recorded_by_id_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training'))
    )
    op.create_table('training_attendee',
    sa.Column('training_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['training_id'], ['training.id'], name=op.f('fk_training_attendee_training_id_training'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.user_id'], name=op.f('fk_training_attendee_volunteer_id_volunteer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('training_id', 'volunteer_id', name=op.f('pk_training_attendee'))
    )
    with op.batch_alter_table('training_attendee', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_attendee_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('volunteer_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('case', 'group', 'community', name='kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('needed', sa.Integer(), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('open', 'cancelled', name='status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('waves', sa.Integer(), nullable=False),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_volunteer_task_task_period')),
    sa.CheckConstraint('needed >= 1', name=op.f('ck_volunteer_task_task_needed')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_volunteer_task_community_id_community'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], name=op.f('fk_volunteer_task_created_by_id_app_user'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['request_id'], ['service_request.id'], name=op.f('fk_volunteer_task_request_id_service_request'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_task'))
    )
    with op.batch_alter_table('volunteer_task', schema=None) as batch_op:
        batch_op.create_index('ix_volunteer_task_community_start', ['community_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_volunteer_task_owner_start', ['created_by_id', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_task_request_id'), ['request_id'], unique=False)

    op.create_table('task_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('offered', 'accepted', 'waitlisted', 'declined', 'withdrawn', 'expired', 'cancelled', name='status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=True),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['volunteer_task.id'], name=op.f('fk_task_assignment_task_id_volunteer_task'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.user_id'], name=op.f('fk_task_assignment_volunteer_id_volunteer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_assignment')),
    sa.UniqueConstraint('task_id', 'volunteer_id', name=op.f('uq_task_assignment_task_id_volunteer_id'))
    )
    with op.batch_alter_table('task_assignment', schema=None) as batch_op:
        batch_op.create_index('ix_task_assignment_task_status', ['task_id', 'status'], unique=False)
        batch_op.create_index('ix_task_assignment_volunteer_status', ['volunteer_id', 'status'], unique=False)

    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.add_column(sa.Column('task_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_reminder_task_id'), ['task_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_reminder_task_id_volunteer_task'), 'volunteer_task', ['task_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('volunteer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('last_offered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index(batch_op.f('ix_volunteer_community_status'))
    op.execute("UPDATE volunteer SET last_offered_at = COALESCE(reviewed_at, created_at)")
    with op.batch_alter_table('volunteer', schema=None) as batch_op:
        batch_op.alter_column('last_offered_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_volunteer_community_status', ['community_id', 'status', 'last_offered_at'], unique=False)
        batch_op.create_index('ix_volunteer_status_offered', ['status', 'last_offered_at'], unique=False)

    with op.batch_alter_table('volunteer_availability', schema=None) as batch_op:
        batch_op.drop_index('ix_volunteer_availability_weekday')
        batch_op.drop_index(batch_op.f('ix_volunteer_availability_volunteer_id'))
        batch_op.create_index('ix_volunteer_availability_volunteer_weekday',
                              ['volunteer_id', 'weekday', 'starts_at', 'ends_at'], unique=False)

    # Batch mode: SQLite changes a CHECK constraint only by rebuilding the table.
    with op.batch_alter_table("request_event") as batch_op:
        batch_op.drop_constraint(op.f("ck_request_event_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_request_event_kind"), sa.column("kind").in_(KINDS))



def downgrade() -> None:
    with op.batch_alter_table('volunteer_availability', schema=None) as batch_op:
        batch_op.drop_index('ix_volunteer_availability_volunteer_weekday')
        batch_op.create_index(batch_op.f('ix_volunteer_availability_volunteer_id'), ['volunteer_id'], unique=False)
        batch_op.create_index('ix_volunteer_availability_weekday', ['weekday', 'starts_at', 'ends_at'], unique=False)
    op.execute(f"DELETE FROM request_event WHERE kind NOT IN ({', '.join(repr(k) for k in KINDS_BEFORE)})")
    with op.batch_alter_table("request_event") as batch_op:
        batch_op.drop_constraint(op.f("ck_request_event_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_request_event_kind"), sa.column("kind").in_(KINDS_BEFORE))
    with op.batch_alter_table('volunteer', schema=None) as batch_op:
        batch_op.drop_index('ix_volunteer_status_offered')
        batch_op.drop_index('ix_volunteer_community_status')
        batch_op.create_index(batch_op.f('ix_volunteer_community_status'), ['community_id', 'status'], unique=False)
        batch_op.drop_column('last_offered_at')
        batch_op.drop_column('longitude')
        batch_op.drop_column('latitude')

    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_reminder_task_id_volunteer_task'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_reminder_task_id'))
        batch_op.drop_column('task_id')

    with op.batch_alter_table('task_assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_task_assignment_volunteer_status')
        batch_op.drop_index('ix_task_assignment_task_status')

    op.drop_table('task_assignment')
    with op.batch_alter_table('volunteer_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_task_request_id'))
        batch_op.drop_index('ix_volunteer_task_owner_start')
        batch_op.drop_index('ix_volunteer_task_community_start')

    op.drop_table('volunteer_task')
    with op.batch_alter_table('training_attendee', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_attendee_volunteer_id'))

    op.drop_table('training_attendee')
    op.drop_table('training')
