"""invariants held by the database: one admin role per account, one pending hold per key, sign-in throttle

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-04 19:10:00

Check-then-act rules that Python alone enforced, and parallel requests broke on PostgreSQL:
- three-way separation (三权分立): a partial unique index, one platform-wide admin role per user
  (zone-scoped admin grants are serialised by a row lock on the user in the grant);
- a platform-wide role at most once per user (NULL zones are distinct to the old constraint);
- one pending held clean-room query per grant and approval key;
- sign-in attempts counted per (account, address) and per address in `login_throttle`, reserved by
  a conditional update before the password is checked.

A database that already holds rows breaking a new rule is not changed silently: the upgrade stops
and names them, to be resolved through the platform (revoke the extra role, reject the extra hold).
"""

import sqlalchemy as sa
from alembic import op

import pdzone.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

ADMIN = "role IN ('system_admin', 'security_admin', 'auditor')"
PLATFORM_ADMIN = ADMIN + " AND zone_code IS NULL"

_CHECKS = [
    ("users holding more than one admin role (三权分立)",
     f"SELECT user_id FROM role_assignments WHERE {ADMIN} GROUP BY user_id HAVING COUNT(DISTINCT role) > 1"),
    ("users holding a platform-wide role twice",
     "SELECT user_id FROM role_assignments WHERE zone_code IS NULL GROUP BY user_id, role HAVING COUNT(*) > 1"),
    ("grants with two pending holds of one query",
     "SELECT grant_id FROM cleanroom_queries WHERE status = 'pending' GROUP BY grant_id, approval_key "
     "HAVING COUNT(*) > 1"),
]


def upgrade() -> None:
    conn = op.get_bind()
    for what, sql in _CHECKS:
        bad = [r[0] for r in conn.execute(sa.text(sql))]
        if bad:
            raise RuntimeError(f"cannot add the constraint: {what}: {sorted(set(bad))}; resolve them first")
    op.create_index('uq_role_assignments_platform_admin', 'role_assignments', ['user_id'], unique=True,
                    sqlite_where=sa.text(PLATFORM_ADMIN), postgresql_where=sa.text(PLATFORM_ADMIN))
    op.create_index('uq_role_assignments_platform', 'role_assignments', ['user_id', 'role'], unique=True,
                    sqlite_where=sa.text('zone_code IS NULL'), postgresql_where=sa.text('zone_code IS NULL'))
    op.create_index('uq_cleanroom_queries_pending', 'cleanroom_queries', ['grant_id', 'approval_key'], unique=True,
                    sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('window_start', pdzone.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttle_window_start'), ['window_start'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttle_window_start'))
    op.drop_table('login_throttle')
    op.drop_index('uq_cleanroom_queries_pending', table_name='cleanroom_queries')
    op.drop_index('uq_role_assignments_platform', table_name='role_assignments')
    op.drop_index('uq_role_assignments_platform_admin', table_name='role_assignments')
