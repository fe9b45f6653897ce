"""jobs: a background task queue (imports now)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

import pdzone.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('zone_code', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_zh', sa.Text(), nullable=True),
    sa.Column('error_en', sa.Text(), nullable=True),
    sa.Column('error_details', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_by_user_id', sa.BigInteger(), nullable=True),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('worker', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', pdzone.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', pdzone.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', pdzone.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', pdzone.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_created_by_user_id'), ['created_by_user_id'], unique=False)
        batch_op.create_index('ix_jobs_status_id', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_zone_code'), ['zone_code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_zone_code'))
        batch_op.drop_index('ix_jobs_status_id')
        batch_op.drop_index(batch_op.f('ix_jobs_created_by_user_id'))

    op.drop_table('jobs')
