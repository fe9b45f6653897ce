"""clean room: δ accounted and capped per partner and dataset across grants, like ε

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-04 19:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# the default per-dataset δ cap (1e-5) in femto-δ: existing accounts start with it and nothing spent
_DEFAULT_DELTA_CAP = '10000000000'


def upgrade() -> None:
    with op.batch_alter_table('dataset_budgets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delta_cap', sa.BigInteger(), nullable=False, server_default=_DEFAULT_DELTA_CAP))
        batch_op.add_column(sa.Column('delta_spent', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.create_check_constraint(op.f('ck_dataset_budgets_delta_within_cap'),
                                         'delta_spent >= 0 AND delta_spent <= delta_cap')
    with op.batch_alter_table('dataset_caps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delta_cap', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dataset_caps', schema=None) as batch_op:
        batch_op.drop_column('delta_cap')
    with op.batch_alter_table('dataset_budgets', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_dataset_budgets_delta_within_cap'), type_='check')
        batch_op.drop_column('delta_spent')
        batch_op.drop_column('delta_cap')
