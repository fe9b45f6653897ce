"""Rewrite: regenerate, from a checked plan, the exact SQL that runs inside the zone.

The query that runs is never the partner's text. It is built from the plan in two layers:

    SELECT _g0, …, COUNT(*) AS _n, SUM(_a1) AS _o1, …            -- outer: aggregates per group
    FROM (SELECT <group keys> AS _gi, <aggregate arguments> AS _ai, <privacy unit> AS _pu
          [, ROW_NUMBER() OVER (PARTITION BY <privacy unit> …) AS _rn]
          FROM <datasets> [JOIN … ON join keys] WHERE <filter>) AS _s
    [WHERE _rn <= L]                                              -- contribution bound after a join
    GROUP BY _g0, …

At levels 3-4 every aggregate argument is clamped to its declared bounds inside the inner layer,
and a single dataset is read from its stored contribution-bounded copy (at most L rows per person);
a join bounds per query with the window. ORDER BY and LIMIT are applied after noise, never here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from pdzone.cleanroom.analysis import Plan


@dataclass
class Exact:
    """The SQL to run and how to read its result columns."""

    tree: exp.Select
    group_cols: list[str]
    out_cols: dict[int, dict[str, str]]   # output index -> role -> result column
    k_col: str | None


def _lit(v: float) -> exp.Expression:
    return exp.Literal.number(repr(float(v)))


def _clamp(e: exp.Expression, lo: float, hi: float) -> exp.Expression:
    x = exp.TryCast(this=e, to=exp.DataType.build("double"))
    # ignore_nulls: the engines' own GREATEST/LEAST (x is never NULL here), not sqlglot's NULL-propagating
    # emulation, which nests x four times in CASEs on DuckDB and costs a third of a warm query
    clamped = exp.Greatest(this=_lit(lo), expressions=[exp.Least(this=x.copy(), expressions=[_lit(hi)],
                                                                 ignore_nulls=True)], ignore_nulls=True)
    return exp.Case(ifs=[exp.If(this=exp.Is(this=x.copy(), expression=exp.Null()), true=exp.Null())],
                    default=clamped)


def _in_python_range(e: exp.Expression, sql_type: str) -> exp.Expression:
    """A date or timestamp, NULL outside years 1-9999: what Python's datetime holds (an engine's dates run
    further, and converting one outside that range would raise when the answer is read)."""
    lo, hi = ("0001-01-01", "9999-12-31") if sql_type == "DATE" else ("0001-01-02 00:00:00", "9999-12-30 00:00:00")
    typ = exp.DataType.build(sql_type, dialect="duckdb")
    inside = exp.Between(this=e.copy(), low=exp.Cast(this=exp.Literal.string(lo), to=typ.copy()),
                         high=exp.Cast(this=exp.Literal.string(hi), to=typ.copy()))
    return exp.Case(ifs=[exp.If(this=inside, true=e.copy())])


def _double(e: exp.Expression) -> exp.Expression:
    """A sum's argument in DOUBLE: a DECIMAL(38) or integer sum could overflow (DuckDB raises, Spark wraps)."""
    return e if isinstance(e, exp.TryCast) and e.to.is_type("double") else exp.TryCast(
        this=e, to=exp.DataType.build("double"))


def _col(name: str) -> exp.Column:
    return exp.column(name)


def build(plan: Plan, table_names: dict[str, str], *, dp: bool, bounded_single: bool, k_unit: bool,
          candidates: dict[int, list[float]] | None = None, max_rows: int | None = None,
          avg_parts: bool = False) -> Exact:
    """The exact query for `plan`; `table_names` maps each alias to the engine's table name.

    `avg_parts`: an average as its sum and count (the gate merges level-1 groups whose masked keys meet)."""
    candidates = candidates or {}
    inner_sel: list[exp.Expression] = []
    group_cols: list[str] = []
    for i, g in enumerate(plan.group_by):
        t = plan.group_time[i] if i < len(plan.group_time) else None
        inner_sel.append(exp.alias_(_in_python_range(g, t) if t else g.copy(), f"_g{i}", quoted=True))
        group_cols.append(f"_g{i}")
    first_alias = next(iter(plan.tables))
    first = plan.tables[first_alias]
    pu = exp.column(first.privacy_unit, table=first_alias, quoted=True) if first.privacy_unit else None
    need_pu = k_unit or (dp and not bounded_single)
    if need_pu and pu is not None:
        inner_sel.append(exp.alias_(pu.copy(), "_pu", quoted=True))
    outer: list[exp.Expression] = [_col(c) for c in group_cols]
    outer.append(exp.alias_(exp.Count(this=exp.Star()), "_n", quoted=True))
    out_cols: dict[int, dict[str, str]] = {}
    for i, o in enumerate(plan.outputs):
        if o.kind in ("group", "column"):
            if o.kind == "column":
                t = plan.output_time.get(i)
                inner_sel.append(exp.alias_(_in_python_range(o.expr, t) if t else o.expr.copy(), f"_o{i}",
                                            quoted=True))
                out_cols[i] = {"value": f"_o{i}"}
            continue
        if o.kind == "count" and isinstance(o.expr, exp.Star):
            out_cols[i] = {"count": "_n"}
            continue
        arg = o.expr.copy()
        if dp and o.bounds is not None and o.kind in ("sum", "avg", "quantile"):
            arg = _clamp(arg, *o.bounds)
        elif o.kind in ("sum", "avg"):
            arg = _double(arg)
        inner_sel.append(exp.alias_(arg, f"_a{i}", quoted=True))
        a = _col(f"_a{i}")
        if o.kind == "count":
            outer.append(exp.alias_(exp.Count(this=a), f"_o{i}", quoted=True))
            out_cols[i] = {"count": f"_o{i}"}
        elif o.kind == "count_distinct":
            outer.append(exp.alias_(exp.Count(this=exp.Distinct(expressions=[a])), f"_o{i}", quoted=True))
            out_cols[i] = {"count": f"_o{i}"}
        elif o.kind == "sum":
            outer.append(exp.alias_(exp.Sum(this=a), f"_o{i}", quoted=True))
            out_cols[i] = {"sum": f"_o{i}"}
        elif o.kind == "avg" and not dp and not avg_parts:
            outer.append(exp.alias_(exp.Avg(this=a), f"_o{i}", quoted=True))
            out_cols[i] = {"value": f"_o{i}"}
        elif o.kind == "avg":
            outer.append(exp.alias_(exp.Sum(this=a), f"_o{i}_s", quoted=True))
            outer.append(exp.alias_(exp.Count(this=a.copy()), f"_o{i}_c", quoted=True))
            out_cols[i] = {"sum": f"_o{i}_s", "count": f"_o{i}_c"}
        elif o.kind == "quantile":
            roles = {}
            for j, c in enumerate(candidates[i]):
                for side, op in (("lt", exp.LT), ("gt", exp.GT)):
                    cond = op(this=a.copy(), expression=_lit(c))
                    e = exp.Sum(this=exp.Case(ifs=[exp.If(this=cond, true=exp.Literal.number(1))],
                                              default=exp.Literal.number(0)))
                    outer.append(exp.alias_(e, f"_o{i}_{side}{j}", quoted=True))
                    roles[f"{side}{j}"] = f"_o{i}_{side}{j}"
            out_cols[i] = roles
    k_col = None
    if k_unit and pu is not None:
        outer.append(exp.alias_(exp.Count(this=exp.Distinct(expressions=[_col("_pu")])), "_k", quoted=True))
        k_col = "_k"
    bound_join = dp and not bounded_single and pu is not None
    if bound_join:
        win = exp.Window(this=exp.RowNumber(), partition_by=[pu.copy()], order=exp.Order(expressions=[
            exp.Ordered(this=pu.copy())]))
        inner_sel.append(exp.alias_(win, "_rn", quoted=True))
    if not inner_sel:
        inner_sel.append(exp.alias_(exp.Literal.number(1), "_one", quoted=True))
    inner = exp.Select(expressions=inner_sel)
    inner.set("from_", exp.From(this=exp.Table(this=exp.to_identifier(table_names[first_alias], quoted=True),
                                               alias=exp.TableAlias(this=exp.to_identifier(first_alias, quoted=True)))))
    joins = []
    for alias, on in plan.joins:
        joins.append(exp.Join(this=exp.Table(this=exp.to_identifier(table_names[alias], quoted=True),
                                             alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))),
                              on=on.copy()))
    if joins:
        inner.set("joins", joins)
    if plan.where is not None:
        inner.set("where", exp.Where(this=plan.where.copy()))
    if plan.kind == "rows":
        if max_rows:
            inner.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))
        return Exact(inner, [], out_cols, None)
    sub = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("_s", quoted=True)))
    outer_q = exp.Select(expressions=outer)
    outer_q.set("from_", exp.From(this=sub))
    if bound_join:
        L = max(t.max_contributions for t in plan.tables.values())
        outer_q.set("where", exp.Where(this=exp.LTE(this=_col("_rn"), expression=exp.Literal.number(L))))
    if group_cols:
        outer_q.set("group", exp.Group(expressions=[_col(c) for c in group_cols]))
    return Exact(outer_q, group_cols, out_cols, k_col)
