"""catalog: proposals (operator staff propose what relaxes protection; the provider or security admin decides)

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-04 19:00:00
"""

import sqlalchemy as sa
from alembic import op

import pdzone.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalog_proposals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dataset_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('column', sa.String(length=200), nullable=False),
    sa.Column('field', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('before', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('proposed_by', sa.String(length=200), nullable=False),
    sa.Column('proposed_by_user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('proposed_at', pdzone.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', pdzone.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('basis', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_catalog_proposals_dataset_id_datasets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_proposals'))
    )
    with op.batch_alter_table('catalog_proposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_proposals_dataset_id'), ['dataset_id'], unique=False)
        # at most one pending proposal per (dataset, column, field), enforced by the database
        batch_op.create_index('uq_catalog_proposal_pending', ['dataset_id', 'column', 'field'], unique=True,
                              sqlite_where=sa.text("state = 'pending'"),
                              postgresql_where=sa.text("state = 'pending'"))


def downgrade() -> None:
    with op.batch_alter_table('catalog_proposals', schema=None) as batch_op:
        batch_op.drop_index('uq_catalog_proposal_pending')
        batch_op.drop_index(batch_op.f('ix_catalog_proposals_dataset_id'))
    op.drop_table('catalog_proposals')
