"""The PostgreSQL query engine: zone data held in a schema of the zone's PostgreSQL database.

Where the data is read. On first use of a `TableRef` key, the decrypted Arrow table is copied (COPY,
CSV) into a table named after `TableRef.name` in the schema `pdzone_zone_data` of the database at
`cleanroom_engine_url`; the table's comment records the key, so warm queries (in this process or
another worker's) do not reload. From then on the rows sit in PostgreSQL's own files, unencrypted
by pdzone: **encryption at rest is the storage's own** (an encrypted volume or tablespace, or a
managed service's storage encryption), and pdzone's crypto-shredding of a dataset does not reach the
copy until `evict(dataset_id)` drops it.

How it is read. Each query runs on its own connection in a READ ONLY transaction, under
`SET LOCAL ROLE pdzone_zone_reader` (a NOLOGIN role that may only USAGE the schema and SELECT its
tables) and `SET LOCAL statement_timeout` from `timeout_s`; the search path is the data schema only.
The SQL has already passed the allow-list twice (the partner's text, and the transpiled PostgreSQL
text), so the role is a second fence, not the first.

What it runs. PostgreSQL raises where DuckDB and Spark give NULL or ±inf, and an error that depends on
the rows is an oracle (analysis.py), so the SQL is written in a dialect of PostgreSQL's own
(`pdzonepostgres`) whose TRY_CAST cannot fail:
- to a number (DOUBLE, FLOAT, DECIMAL): NUMERIC. PostgreSQL's double precision raises on overflow and
  underflow (`1e308 * 10`, `1e-200 * 1e-200`, a SUM past 1.8e308); NUMERIC holds 131,072 digits, which
  the analysis' bounds on literals and query size keep every expression far from, and has no
  underflow; NaN and ±Infinity carry over. Arithmetic and sums therefore run in NUMERIC here.
- text to a number: the digits a regular expression finds (`SUBSTRING(x FROM '…')`, NULL when the text
  is not a plain decimal number of bounded size), then NUMERIC: a malformed value reads NULL, as
  DuckDB's TRY_CAST gives.
- anything else (to text, between date types, to an integer after the analysis' clamp): a CAST whose
  success the analysis made type-determined.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from decimal import Decimal

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql as psql
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres

from pdzone.cleanroom.analysis import TEXT_SOURCE
from pdzone.cleanroom.engines import EngineFailure, TableRef, register

SCHEMA = "pdzone_zone_data"
READER = "pdzone_zone_reader"
_MAX_IDENT = 63          # PostgreSQL's NAMEDATALEN - 1, in bytes (a Chinese character takes 3)
_BATCH = 65_536          # rows per COPY chunk

# result column type (OID) -> Arrow type; anything else is left to Arrow's inference
_RESULT_TYPES = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 700: pa.float32(), 701: pa.float64(),
    1700: pa.float64(), 25: pa.string(), 1043: pa.string(), 1042: pa.string(), 19: pa.string(),
    1082: pa.date32(), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"), 17: pa.binary(),
}


# a plain decimal number, of bounded size (|x| < 1e300 or so): NUMERIC can always hold it, and products of
# such values stay inside NUMERIC's range. POSIX classes, not backslashes (string literals keep them as is).
_NUMBER_RE = ("^[[:space:]]*([-+]?([0-9]{1,200}([.][0-9]{0,200})?|[.][0-9]{1,200})([eE][-+]?[0-9]{1,2})?)"
              "[[:space:]]*$")
_NUMBER_TARGETS = ("double", "float", "decimal")


_INT_RANGES = {"tinyint": (-2**15, 2**15 - 1), "smallint": (-2**15, 2**15 - 1), "int": (-2**31, 2**31 - 1),
               "bigint": (-2**63, 2**63 - 1)}   # PostgreSQL has no TINYINT: sqlglot writes SMALLINT


def _int_cast(x: exp.Expression, to: exp.DataType) -> exp.Expression:
    """A number to an integer type, total: rounded in NUMERIC, clamped one past each end of the type's
    range, those two ends turned into NULL (GREATEST/LEAST skip a NULL, NULLIF gives it back), then cast:
    the final CAST only ever sees an integer that fits."""
    lo, hi = next(r for t, r in _INT_RANGES.items() if to.is_type(t))
    above, below = exp.Literal.number(hi + 1), exp.Literal.number(lo - 1)
    r = exp.Round(this=exp.Cast(this=x, to=exp.DataType.build("decimal")))
    clamped = exp.Greatest(this=exp.Least(this=r, expressions=[above], ignore_nulls=True),
                           expressions=[below.copy()], ignore_nulls=True)
    inner = exp.Nullif(this=exp.Nullif(this=clamped, expression=above.copy()), expression=below)
    return exp.Cast(this=inner, to=to)


def _total_cast(node: exp.TryCast) -> exp.Expression:
    this, to = node.this, node.to
    if to.is_type(*_NUMBER_TARGETS):   # DECIMAL(p, s) too: unbounded NUMERIC cannot overflow
        if node.meta.get(TEXT_SOURCE):
            this = exp.Substring(this=exp.Cast(this=this, to=exp.DataType.build("text")),
                                 start=exp.Literal.string(_NUMBER_RE))
        return exp.Cast(this=this, to=exp.DataType.build("decimal"))
    if to.is_type(*_INT_RANGES):      # the analysis allows numbers only here (text goes through DOUBLE)
        return _int_cast(this, to)
    return exp.Cast(this=this, to=to)


class PdzonePostgres(Postgres):
    """PostgreSQL whose TRY_CAST cannot fail (registered with sqlglot as the dialect `pdzonepostgres`).

    sqlglot's generators are compiled and cannot be subclassed, so the tree is rewritten before it is
    generated: each TRY_CAST, innermost first, becomes the total CAST described above."""

    def generate(self, expression: exp.Expression, copy: bool = True, **opts) -> str:
        tree = expression.copy() if copy else expression
        for node in reversed(list(tree.find_all(exp.TryCast))):   # breadth-first, reversed: inner ones first
            new = _total_cast(node)
            if node is tree:
                tree = new
            else:
                node.replace(new)
        return super().generate(tree, copy=False, **opts)


def pg_type(t: pa.DataType) -> str:
    """The PostgreSQL column type that holds an Arrow type without loss (text for the exotic ones)."""
    if pa.types.is_dictionary(t):
        return pg_type(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "bigint"
    if pa.types.is_uint64(t):
        return "numeric(20, 0)"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "real"
    if pa.types.is_float64(t):
        return "double precision"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision}, {t.scale})"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bytea"
    return "text"


def _csv_ready(table: pa.Table) -> pa.Table:
    """Columns as Arrow's CSV writer and PostgreSQL's COPY agree on them."""
    cols = []
    for col in table.columns:
        t = col.type
        if pa.types.is_dictionary(t):
            col, t = col.cast(t.value_type), t.value_type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            col = pa.array([None if v is None else "\\x" + v.hex() for v in col.to_pylist()], pa.string())
        elif pg_type(t) == "text" and not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            col = pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())
        elif pa.types.is_float16(t):
            col = pc.cast(col, pa.float32())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _check_ident(name: str) -> None:
    if len(name.encode()) > _MAX_IDENT or "\x00" in name:
        raise EngineFailure(f"a name PostgreSQL cannot hold (over {_MAX_IDENT} bytes, or a NUL)")


def _pg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class PostgresEngine:
    """Runs the clean room's transpiled SQL on the zone's PostgreSQL database (dialect `postgres`)."""

    name = "postgres"
    dialect = "pdzonepostgres"

    def __init__(self, url: str = "", *, schema: str = SCHEMA, role: str = READER,
                 connect_timeout: int = 10) -> None:
        if not url:
            raise ValueError("the postgres engine needs cleanroom_engine_url (a PostgreSQL DSN)")
        self.url = _pg_url(url)
        self.schema = schema
        self.role = role
        self.connect_timeout = connect_timeout
        self._loaded: dict[str, tuple] = {}      # table name -> the key whose data it holds
        self._ready = False
        self._lock = threading.Lock()

    def _connect(self, **kw) -> psycopg.Connection:
        return psycopg.connect(self.url, connect_timeout=self.connect_timeout, **kw)

    # -- loading ---------------------------------------------------------------------------------

    def _setup(self, conn: psycopg.Connection) -> None:
        """The schema and the reader role (idempotent; safe against a concurrent worker)."""
        schema, role = psql.Identifier(self.schema), psql.Identifier(self.role)
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"pdzone-engine-setup:{self.schema}",))
        conn.execute(psql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        conn.execute(psql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema))
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (self.role,)).fetchone()
        if not exists:
            try:
                with conn.transaction():  # a savepoint: another database's worker may create it meanwhile
                    conn.execute(psql.SQL("CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
                                          "NOREPLICATION NOBYPASSRLS").format(role))
            except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                pass
        conn.execute(psql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
        conn.execute(psql.SQL("GRANT {} TO CURRENT_USER").format(role))  # so that SET ROLE may take it

    def _ensure(self, ref: TableRef) -> None:
        if self._loaded.get(ref.name) == ref.key:
            return
        _check_ident(ref.name)
        marker = f"pdzone:{ref.key!r}"
        with self._lock, self._connect() as conn:
            if not self._ready:
                self._setup(conn)
                conn.commit()
                self._ready = True
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                         (f"pdzone-engine-load:{self.schema}.{ref.name}",))
            have = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')",
                                (psql.Identifier(self.schema, ref.name).as_string(conn),)).fetchone()
            if not have or have[0] != marker:
                self._copy_in(conn, ref, marker)
            conn.commit()
        self._loaded[ref.name] = ref.key

    def _copy_in(self, conn: psycopg.Connection, ref: TableRef, marker: str) -> None:
        source = ref.load()
        for n in source.column_names:
            _check_ident(n)
        table = _csv_ready(source)
        ident = psql.Identifier(self.schema, ref.name)
        cols = psql.SQL(", ").join(psql.SQL("{} {}").format(psql.Identifier(f.name), psql.SQL(pg_type(f.type)))
                                   for f in source.schema)
        conn.execute(psql.SQL("DROP TABLE IF EXISTS {}").format(ident))
        conn.execute(psql.SQL("CREATE TABLE {} ({})").format(ident, cols))
        names = psql.SQL(", ").join(psql.Identifier(n) for n in table.column_names)
        opts = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
        with conn.cursor().copy(psql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(ident, names)) as cp:
            for batch in table.to_batches(max_chunksize=_BATCH):
                buf = io.BytesIO()
                pacsv.write_csv(batch, buf, opts)   # nulls unquoted (NULL), every value quoted ("" is "")
                cp.write(buf.getvalue())
        conn.execute(psql.SQL("COMMENT ON TABLE {} IS {}").format(ident, psql.Literal(marker)))
        conn.execute(psql.SQL("GRANT SELECT ON {} TO {}").format(ident, psql.Identifier(self.role)))
        conn.execute(psql.SQL("ANALYZE {}").format(ident))

    def evict(self, dataset_id: int) -> int:
        """Drop every copy of a dataset (call it when the dataset is destroyed); returns tables dropped."""
        dropped = 0
        with self._lock, self._connect() as conn:
            rows = conn.execute("SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
                                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                                "AND c.relkind = 'r'", (self.schema,)).fetchall()
            for name, marker in rows:
                if marker and marker.startswith(f"pdzone:({dataset_id!r},"):
                    conn.execute(psql.SQL("DROP TABLE {}").format(psql.Identifier(self.schema, name)))
                    self._loaded.pop(name, None)
                    dropped += 1
            conn.commit()
        return dropped

    # -- querying --------------------------------------------------------------------------------

    def execute(self, sql: str, tables: Mapping[str, TableRef], *, timeout_s: float) -> pa.Table:
        try:
            for ref in tables.values():
                self._ensure(ref)
            with self._connect() as conn:
                conn.read_only = True                       # BEGIN READ ONLY
                conn.execute(psql.SQL("SET LOCAL ROLE {}").format(psql.Identifier(self.role)))
                conn.execute(psql.SQL("SET LOCAL search_path TO {}").format(psql.Identifier(self.schema)))
                conn.execute(psql.SQL("SET LOCAL statement_timeout = {}").format(
                    psql.Literal(max(1, int(timeout_s * 1000)))))
                cur = conn.execute(sql)
                desc = cur.description or []
                rows = cur.fetchall()
                conn.rollback()
        except (psycopg.Error, pa.ArrowException) as e:
            raise EngineFailure(type(e).__name__) from e
        return _to_arrow(desc, rows)


def _to_arrow(desc, rows: list[tuple]) -> pa.Table:
    arrays, names = [], []
    for i, d in enumerate(desc):
        values = [r[i] for r in rows]
        t = _RESULT_TYPES.get(d.type_code)
        if d.type_code == 1700 or (t is None and any(isinstance(v, Decimal) for v in values)):
            values = [None if v is None else float(v) for v in values]
        arrays.append(pa.array(values, type=t))
        names.append(d.name)
    return pa.table(arrays, names=names)


register("postgres", PostgresEngine)
