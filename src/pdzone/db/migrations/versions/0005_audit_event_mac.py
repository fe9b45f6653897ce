"""operation log: event MACs, refused rows, checkpoint count, denial windows

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:10:00
"""

import sqlalchemy as sa
from alembic import op

import pdzone.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mac', sa.LargeBinary(length=64), nullable=True))
        batch_op.add_column(sa.Column('refused_at', pdzone.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('audit_log_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkpoint_count', sa.BigInteger(), nullable=False, server_default='0'))
    # The checkpoints signed so far: from now on a missing one is tampering.
    op.execute("UPDATE audit_log_state SET checkpoint_count = (SELECT count(*) FROM audit_checkpoints)")
    op.create_table('audit_denial_windows',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('source_ip', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.String(length=100), nullable=False),
    sa.Column('window_start', pdzone.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_s', sa.Integer(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('first_event_id', sa.BigInteger(), nullable=True),
    sa.Column('summarized_at', pdzone.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_denial_windows')),
    sa.UniqueConstraint('actor', 'source_ip', 'action', 'reason', 'window_start', name='uq_audit_denial_windows_key')
    )
    with op.batch_alter_table('audit_denial_windows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_denial_windows_first_event_id'), ['first_event_id'],
                              unique=False)
        batch_op.create_index('ix_audit_denial_windows_open', ['summarized_at', 'window_start'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_denial_windows', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_denial_windows_open')
        batch_op.drop_index(batch_op.f('ix_audit_denial_windows_first_event_id'))
    op.drop_table('audit_denial_windows')
    with op.batch_alter_table('audit_log_state', schema=None) as batch_op:
        batch_op.drop_column('checkpoint_count')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('refused_at')
        batch_op.drop_column('mac')
