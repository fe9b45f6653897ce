"""The allow-list: which SQL syntax a partner may write, node by node, argument by argument.

Not a deny-list. A node type that is not named here is refused, and so is a named node that carries
an argument not listed for it (DuckDB's `max(x, n)`, `COUNT(*) FILTER`, table-alias column lists,
`GROUP BY ALL` ...). The same check runs a second time, with the few constructs the rewriter itself
adds, on the SQL transpiled for each engine, so an engine-specific function (PostgreSQL's
`pg_read_file`, Spark's `reflect`) can never slip in through transpilation.
"""

from __future__ import annotations

from sqlglot import exp

from pdzone.errors import BadRequest, Forbidden

# node type -> the arguments it may carry (any other argument that is set is refused)
_STRUCTURE: dict[type[exp.Expression], frozenset[str]] = {
    exp.Select: frozenset({"expressions", "from_", "joins", "where", "group", "order", "limit"}),
    exp.From: frozenset({"this"}),
    exp.Table: frozenset({"this", "alias"}),
    exp.TableAlias: frozenset({"this"}),
    exp.Join: frozenset({"this", "on"}),
    exp.Where: frozenset({"this"}),
    exp.Group: frozenset({"expressions"}),
    exp.Order: frozenset({"expressions"}),
    exp.Ordered: frozenset({"this", "desc", "nulls_first"}),
    exp.Limit: frozenset({"expression"}),
    exp.Alias: frozenset({"this", "alias"}),
    exp.Identifier: frozenset({"this", "quoted"}),
    exp.Column: frozenset({"this", "table"}),
    exp.Literal: frozenset({"this", "is_string"}),
    exp.Boolean: frozenset({"this"}),
    exp.Null: frozenset(),
    exp.Paren: frozenset({"this"}),
    exp.Neg: frozenset({"this"}),
    exp.Not: frozenset({"this"}),
}
_BINARY = (exp.And, exp.Or, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Add, exp.Sub, exp.Mul,
           exp.Div, exp.Like, exp.ILike, exp.Is)
for _t in _BINARY:
    _STRUCTURE[_t] = frozenset({"this", "expression"})
_STRUCTURE[exp.Div] = frozenset({"this", "expression", "typed", "safe"})
_STRUCTURE[exp.In] = frozenset({"this", "expressions"})           # literal lists only: no subquery
_STRUCTURE[exp.Between] = frozenset({"this", "low", "high"})
_STRUCTURE[exp.Case] = frozenset({"ifs", "default"})
_STRUCTURE[exp.If] = frozenset({"this", "true", "false"})

# scalar functions: deterministic, row-local, cannot fail on data (casts become TRY_CAST)
SCALARS: dict[type[exp.Expression], frozenset[str]] = {
    exp.Coalesce: frozenset({"this", "expressions"}),
    exp.Abs: frozenset({"this"}),
    exp.Round: frozenset({"this", "decimals"}),
    exp.Floor: frozenset({"this"}),
    exp.Ceil: frozenset({"this"}),
    exp.Lower: frozenset({"this"}),
    exp.Upper: frozenset({"this"}),
    exp.Length: frozenset({"this", "binary"}),
    exp.Substring: frozenset({"this", "start", "length"}),
    exp.Year: frozenset({"this"}),
    exp.Month: frozenset({"this"}),
    exp.Day: frozenset({"this"}),
    exp.TimestampTrunc: frozenset({"this", "unit"}),
    exp.DateTrunc: frozenset({"this", "unit"}),
    exp.Cast: frozenset({"this", "to"}),
    exp.TryCast: frozenset({"this", "to", "safe"}),
    exp.DataType: frozenset({"this", "nested", "expressions"}),   # parameters: DECIMAL(p, s) only (analysis)
    exp.DataTypeParam: frozenset({"this"}),
    exp.Var: frozenset({"this"}),  # only as a date unit (checked by the analysis)
}

# aggregates a partner may call; which ones a level allows is the analysis' business
AGGREGATES: dict[type[exp.Expression], frozenset[str]] = {
    exp.Count: frozenset({"this", "big_int"}),
    exp.Sum: frozenset({"this"}),
    exp.Avg: frozenset({"this"}),
    exp.Median: frozenset({"this"}),
    exp.PercentileCont: frozenset({"this", "expression"}),
    exp.Quantile: frozenset({"this", "quantile"}),
    exp.Star: frozenset(),        # only as COUNT(*)
    exp.Distinct: frozenset({"expressions"}),  # only as COUNT(DISTINCT col), below the DP levels
}

USER_NODES = {**_STRUCTURE, **SCALARS, **AGGREGATES}

# what the rewriter adds on top (checked again on every engine's transpiled SQL)
ENGINE_NODES = {
    **USER_NODES,
    exp.Subquery: frozenset({"this", "alias"}),
    exp.Window: frozenset({"this", "partition_by", "order", "over"}),
    exp.RowNumber: frozenset(),
    exp.Greatest: frozenset({"this", "expressions", "ignore_nulls", "null_if_any_null"}),
    exp.Least: frozenset({"this", "expressions", "ignore_nulls", "null_if_any_null"}),
    exp.Nullif: frozenset({"this", "expression"}),
    exp.Min: frozenset({"this"}),
    exp.Max: frozenset({"this"}),
    exp.Select: frozenset({"expressions", "from_", "joins", "where", "group", "order", "limit", "qualify"}),
    exp.Qualify: frozenset({"this"}),
    exp.Join: frozenset({"this", "on", "kind"}),
    exp.MD5: frozenset({"this"}),
    exp.Concat: frozenset({"expressions", "safe", "coalesce"}),
    exp.DPipe: frozenset({"this", "expression", "safe"}),
    exp.DataTypeParam: frozenset({"this"}),
    # YEAR/MONTH/DAY as transpiled: PostgreSQL's EXTRACT(YEAR FROM d), Spark's YEAR(d) read back with a to-date
    exp.Extract: frozenset({"this", "expression"}),
    exp.TsOrDsToDate: frozenset({"this"}),
}
for _t in (exp.Cast, exp.TryCast):
    ENGINE_NODES[_t] = frozenset({"this", "to", "safe", "format", "action", "default"})

MAX_NODES = 600
MAX_IN_LIST = 1000


def refuse(zh: str, en: str, code: str, *, status: int = 403, **details) -> Forbidden | BadRequest:
    """A refusal of the query: 403 for what the rules forbid, 400 for a query too big to consider."""
    return (BadRequest if status == 400 else Forbidden)(zh, en, code=code, details=details)


def check(tree: exp.Expression, nodes: dict[type[exp.Expression], frozenset[str]] = USER_NODES, *,
          max_nodes: int = MAX_NODES) -> None:
    """Refuse any node type or argument outside the allow-list (raises Forbidden `sql_not_allowed`)."""
    for count, node in enumerate(tree.walk(), 1):
        if count > max_nodes:
            raise refuse(f"查询过于复杂（超过 {max_nodes} 个语法节点）",
                         f"the query is too complex (over {max_nodes} nodes)",
                         "query_too_complex", status=400)
        allowed = nodes.get(type(node))
        if allowed is None:
            name = node.key.upper()
            if isinstance(node, exp.Func):
                name = node.sql_name() if not isinstance(node, exp.Anonymous) else str(node.this).upper()
            raise refuse(f"不允许使用 {name}", f"{name} is not allowed here", "sql_not_allowed", construct=name)
        for key, value in node.args.items():
            if key not in allowed and value not in (None, False, [], ""):
                raise refuse(f"不允许在 {node.key.upper()} 中使用 {key}", f"{key} is not allowed in {node.key.upper()}",
                             "sql_not_allowed", construct=f"{node.key}.{key}")
        if isinstance(node, exp.In) and len(node.expressions) > MAX_IN_LIST:
            raise refuse(f"IN 列表最多 {MAX_IN_LIST} 项",
                         f"an IN list holds at most {MAX_IN_LIST} items", "query_too_complex", status=400)
