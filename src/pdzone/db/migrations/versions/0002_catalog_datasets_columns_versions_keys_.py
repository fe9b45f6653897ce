"""catalog: datasets, columns, versions, keys, decisions, lineage

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

import pdzone.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('datasets',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('zone_code', sa.String(length=64), nullable=False),
    sa.Column('provider_org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('source_system', sa.String(length=200), nullable=False),
    sa.Column('sector', sa.String(length=30), nullable=True),
    sa.Column('update_frequency', sa.String(length=30), nullable=True),
    sa.Column('time_coverage', sa.String(length=100), nullable=False),
    sa.Column('space_coverage', sa.String(length=100), nullable=False),
    sa.Column('row_count', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=True),
    sa.Column('level_basis', sa.Text(), nullable=True),
    sa.Column('level_set_by', sa.String(length=200), nullable=True),
    sa.Column('suggested_level', sa.Integer(), nullable=True),
    sa.Column('suggestion_reasons', sa.Text(), nullable=False),
    sa.Column('r28_reason', sa.String(length=30), nullable=True),
    sa.Column('r28_note', sa.Text(), nullable=True),
    sa.Column('privacy_unit', sa.String(length=200), nullable=True),
    sa.Column('source_format', sa.String(length=20), nullable=False),
    sa.Column('source_encoding', sa.String(length=20), nullable=True),
    sa.Column('created_at', pdzone.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', pdzone.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organizations.id'], name=op.f('fk_datasets_provider_org_id_organizations')),
    sa.ForeignKeyConstraint(['zone_code'], ['zones.code'], name=op.f('fk_datasets_zone_code_zones')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_datasets')),
    sa.UniqueConstraint('name', name=op.f('uq_datasets_name'))
    )
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_datasets_provider_org_id'), ['provider_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_datasets_zone_code'), ['zone_code'], unique=False)

    op.create_table('catalog_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dataset_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('column', sa.String(length=200), nullable=True),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('basis', sa.Text(), nullable=False),
    sa.Column('data_derived', sa.Boolean(), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', pdzone.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_catalog_decisions_dataset_id_datasets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_decisions'))
    )
    with op.batch_alter_table('catalog_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_decisions_dataset_id'), ['dataset_id'], unique=False)

    op.create_table('catalog_lineage',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dataset_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('derived_from_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', pdzone.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_catalog_lineage_dataset_id_datasets')),
    sa.ForeignKeyConstraint(['derived_from_id'], ['datasets.id'], name=op.f('fk_catalog_lineage_derived_from_id_datasets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_lineage'))
    )
    with op.batch_alter_table('catalog_lineage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_lineage_dataset_id'), ['dataset_id'], unique=False)

    op.create_table('dataset_columns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dataset_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('unit', sa.String(length=50), nullable=False),
    sa.Column('pii_type', sa.String(length=30), nullable=True),
    sa.Column('pii_match_rate', sa.Float(), nullable=True),
    sa.Column('pii_confidence', sa.Float(), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=True),
    sa.Column('bounds_lo', sa.Float(), nullable=True),
    sa.Column('bounds_hi', sa.Float(), nullable=True),
    sa.Column('public_values', sa.Text(), nullable=True),
    sa.Column('mask_policy', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_dataset_columns_dataset_id_datasets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dataset_columns')),
    sa.UniqueConstraint('dataset_id', 'name', name='uq_dataset_column')
    )
    with op.batch_alter_table('dataset_columns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_columns_dataset_id'), ['dataset_id'], unique=False)

    op.create_table('dataset_keys',
    sa.Column('dataset_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('suite', sa.String(length=10), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', pdzone.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('destroyed_at', pdzone.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_dataset_keys_dataset_id_datasets')),
    sa.PrimaryKeyConstraint('dataset_id', name=op.f('pk_dataset_keys'))
    )
    op.create_table('dataset_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dataset_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('row_count', sa.BigInteger(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('source_name', sa.String(length=300), nullable=False),
    sa.Column('created_at', pdzone.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_dataset_versions_dataset_id_datasets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dataset_versions')),
    sa.UniqueConstraint('dataset_id', 'version', name='uq_dataset_version')
    )
    with op.batch_alter_table('dataset_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_versions_dataset_id'), ['dataset_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('dataset_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_versions_dataset_id'))

    op.drop_table('dataset_versions')
    op.drop_table('dataset_keys')
    with op.batch_alter_table('dataset_columns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_columns_dataset_id'))

    op.drop_table('dataset_columns')
    with op.batch_alter_table('catalog_lineage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_lineage_dataset_id'))

    op.drop_table('catalog_lineage')
    with op.batch_alter_table('catalog_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_decisions_dataset_id'))

    op.drop_table('catalog_decisions')
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_datasets_zone_code'))
        batch_op.drop_index(batch_op.f('ix_datasets_provider_org_id'))

    op.drop_table('datasets')

