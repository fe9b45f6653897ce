"""Query engines behind one interface: DuckDB (embedded default), PostgreSQL, Spark.

The clean room hands an engine SQL already checked, rewritten and transpiled to the engine's
dialect (and checked again after transpiling), plus the tables it names. Each `TableRef` names
a decrypted dataset version (or its contribution-bounded copy) and how to load it; engines keep
what they load keyed by `TableRef.key` so warm queries do not reload.

Where data is read:
- DuckDB: Arrow tables decrypted into this process's memory; the connection has no external access,
  no temp directory (nothing spills to disk) and its configuration locked.
- PostgreSQL: the zone's tables copied into a schema of the zone's PostgreSQL database and read by a
  role that may only SELECT there; encryption at rest is PostgreSQL's storage (disk or tablespace
  encryption), not pdzone's.
- Spark: Arrow tables turned into cached DataFrames of the zone's Spark application; at rest it is
  the cluster's storage encryption.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import duckdb
import pyarrow as pa

from pdzone.dataplane.engine import lock, sealed_connection


@dataclass(frozen=True)
class TableRef:
    name: str                         # the name the SQL uses
    key: tuple                        # (dataset id, version, variant): what the engine may cache by
    load: Callable[[], pa.Table]


class EngineFailure(Exception):
    """The engine could not answer (time limit, resources, internal error): reported generically."""


class QueryEngine(Protocol):
    name: str
    dialect: str                      # sqlglot dialect of the SQL this engine runs

    def execute(self, sql: str, tables: Mapping[str, TableRef], *, timeout_s: float) -> pa.Table: ...


class DuckDBEngine:
    """One sealed, locked in-memory DuckDB database per engine; each query runs on its own cursor.

    Opening a DuckDB database costs ~0.1 s, more than a warm query on a million rows; a cursor costs
    microseconds. Tables registered on a cursor are visible to that cursor only and go with it, so
    no query sees another's tables; the memory limit and threads are shared by the queries in flight.
    """

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, memory_limit: str = "2GB", threads: int = 2) -> None:
        self.memory_limit = memory_limit
        self.threads = threads
        self._db: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def _database(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._db is None:
                self._db = lock(sealed_connection(memory_limit=self.memory_limit, threads=self.threads))
            return self._db

    def execute(self, sql: str, tables: Mapping[str, TableRef], *, timeout_s: float) -> pa.Table:
        loaded = {n: t.load() for n, t in tables.items()}
        con = self._database().cursor()
        try:
            for n, table in loaded.items():
                con.register(n, table)
            timer = threading.Timer(timeout_s, con.interrupt)
            timer.start()
            try:
                return con.sql(sql).to_arrow_table()
            except duckdb.Error as e:
                raise EngineFailure(type(e).__name__) from e
            finally:
                timer.cancel()
        finally:
            con.close()


_ENGINES: dict[str, Callable[..., QueryEngine]] = {"duckdb": DuckDBEngine}


def register(name: str, factory: Callable[..., QueryEngine]) -> None:
    _ENGINES[name] = factory


def make_engine(name: str, **options) -> QueryEngine:
    if name == "postgres" and name not in _ENGINES:
        from pdzone.cleanroom import engine_postgres  # noqa: F401  (registers itself)
    if name == "spark" and name not in _ENGINES:
        from pdzone.cleanroom import engine_spark  # noqa: F401
    try:
        return _ENGINES[name](**options)
    except KeyError as e:
        raise ValueError(f"unknown engine {name}") from e
