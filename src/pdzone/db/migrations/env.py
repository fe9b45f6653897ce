"""Alembic environment: runs on the connection pdzone.db.upgrade hands over.

The tables' metadata is handed in only when generating a migration (see docs/development.md),
so that the store does not import the areas that sit above it.
"""

from alembic import context
from sqlalchemy import create_engine

config = context.config
target_metadata = config.attributes.get("target_metadata")


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


conn = config.attributes.get("connection")
if conn is not None:
    _run(conn)
else:
    with create_engine(config.get_main_option("sqlalchemy.url")).begin() as c:
        _run(c)
