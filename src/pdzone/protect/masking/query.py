"""Masked reads: one SELECT with every in-engine operator, then the pseudonym columns on the Arrow result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb
import pyarrow as pa

from pdzone.errors import Invalid, NotFound
from pdzone.protect.masking.policy import INVALID_POLICY, ColumnPolicy, MaskOp
from pdzone.protect.masking.pseudonym import Pseudonymizer
from pdzone.protect.masking.sql import quote_identifier, sql_expression

SOURCE_NAME = "_pdzone_mask_source"


def _source(con: duckdb.DuckDBPyConnection, relation: str | Sequence[str] | duckdb.DuckDBPyRelation):
    """The FROM item, the source's column types, and how to run a query over it."""
    if isinstance(relation, duckdb.DuckDBPyRelation):
        types = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
        return quote_identifier(SOURCE_NAME), types, lambda sql: relation.query(SOURCE_NAME, sql)
    parts = [relation] if isinstance(relation, str) else list(relation)
    if not 1 <= len(parts) <= 3:
        raise Invalid("表名无效", "invalid relation name", code="invalid_identifier")
    from_sql = ".".join(quote_identifier(p) for p in parts)
    try:
        probe = con.sql(f"SELECT * FROM {from_sql}")  # bound, not run: names and types only
    except duckdb.CatalogException as e:
        name = ".".join(parts)
        raise NotFound(f"没有数据表 {name}", f"no relation {name}", code="unknown_relation") from e
    types = dict(zip(probe.columns, (str(t) for t in probe.types), strict=True))
    return from_sql, types, con.sql


def mask_query(con: duckdb.DuckDBPyConnection, relation: str | Sequence[str] | duckdb.DuckDBPyRelation,
               columns: Sequence[str], policies: Mapping[str, ColumnPolicy], *,
               pseudonymizer: Pseudonymizer | None, limit: int | None = None) -> pa.Table:
    """Read ``columns`` of ``relation`` with each column's policy applied; fails closed.

    ``relation`` is a table or view name (one identifier, quoted here, so Chinese names and names with quotes are
    fine), a sequence of name parts for a qualified name (``("zone", "户籍")``), or a DuckDB relation (a Parquet
    reader, say). The result has ``columns`` in order under their own names.

    Refused, with :class:`~pdzone.errors.Invalid` and nothing read: a column with no policy (``mask_policy_missing``;
    a column is never passed through because nobody wrote a rule for it), a column the relation lacks
    (``unknown_column``), a column named twice (``invalid_columns``), and a ``pseudonym`` policy without a
    ``pseudonymizer`` (``pseudonym_key_missing``). A missing table is :class:`~pdzone.errors.NotFound`
    (``unknown_relation``). Policies are not checked against levels here: the caller runs
    :func:`~pdzone.protect.masking.check_policy` when the policies are set and when they are used.

    ``suppress`` counts values over the whole relation, before ``limit`` applies: a grouped count in a subquery,
    so a relation with a suppressed column is read twice (a DuckDB relation is evaluated twice).
    """
    if isinstance(columns, str) or not columns:
        raise Invalid("须列出要读取的列", "name the columns to read", code="invalid_columns")
    if len(set(columns)) != len(columns):
        raise Invalid("列名重复", "a column is named twice", code="invalid_columns")
    missing = [c for c in columns if c not in policies]
    if missing:
        raise Invalid(f"以下列没有脱敏策略，不能输出：{', '.join(missing)}",
                      f"no masking policy for: {', '.join(missing)}", code="mask_policy_missing",
                      details={"columns": missing})
    for c in columns:
        if not isinstance(policies[c], ColumnPolicy):
            raise Invalid(f"列 {c} 的脱敏策略无效", f"the policy of column {c} is not a ColumnPolicy",
                          code=INVALID_POLICY, details={"column": c})
    pseudonymized = [c for c in columns if policies[c].op is MaskOp.PSEUDONYM]
    if pseudonymized and pseudonymizer is None:
        raise Invalid("假名化的列需要接收方的假名化密钥", "pseudonym columns need the recipient's pseudonymizer",
                      code="pseudonym_key_missing", details={"columns": pseudonymized})
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise Invalid("limit 须为非负整数", "limit must be a non-negative integer", code="invalid_limit")

    from_sql, types, run = _source(con, relation)
    unknown = [c for c in columns if c not in types]
    if unknown:
        raise Invalid(f"数据中没有这些列：{', '.join(unknown)}", f"no such columns: {', '.join(unknown)}",
                      code="unknown_column", details={"columns": unknown})

    items = []
    for c in columns:
        q = quote_identifier(c)
        expr = sql_expression(q, policies[c], column_type=types[c], source_sql=from_sql)
        if expr is None:  # pseudonym: the text the HMAC is taken of, as the engine writes it
            expr = q if types[c].upper() == "VARCHAR" else f"CAST({q} AS VARCHAR)"
        items.append(f"{expr} AS {q}")
    sql = f"SELECT {', '.join(items)} FROM {from_sql}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    table = run(sql).to_arrow_table()

    for c in pseudonymized:
        assert pseudonymizer is not None
        i = table.schema.get_field_index(c)
        table = table.set_column(i, pa.field(c, pa.string()), pseudonymizer.pseudonym(table.column(i)))
    return table
