"""DuckDB connections that hold zone data only in memory.

External access is off (no files, no URLs, no extensions), nothing spills to a temp directory
(so no plaintext reaches the disk), and the configuration is locked before any query runs.
Datasets are registered as in-memory Arrow tables decrypted by `DatasetStorage`.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa


def sealed_connection(*, memory_limit: str = "2GB", threads: int = 2) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:", config={"enable_external_access": False, "temp_directory": "",
                                             "memory_limit": memory_limit, "threads": threads,
                                             "autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    return con


def lock(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    con.execute("SET lock_configuration = true")
    return con


def quote_ident(name: str) -> str:
    """A SQL identifier, quoted (Chinese column names are the norm)."""
    return '"' + name.replace('"', '""') + '"'


def with_tables(tables: dict[str, pa.Table], **kw) -> duckdb.DuckDBPyConnection:
    """A locked connection on which each table is registered under its view name."""
    con = sealed_connection(**kw)
    for name, table in tables.items():
        con.register(name, table)
    return lock(con)
