"""From exact aggregates (inside the zone) to what may be released, by level.

- Level 1: exact aggregates.
- Level 2: exact aggregates; a group is released only if at least k distinct privacy units stand
  behind it (computed exactly). Exact answers cannot stop differencing between overlapping queries:
  that residual risk is why level-2 data stays inside the city's API or tenant space.
- Levels 3-4: every released number is noisy (OpenDP). A noisy row count per group always runs:
  the minimum group size applies to it, never to an exact count. Group keys are released only if
  they are public (all declared values, zeros included) or pass DP partition selection.

Nothing data-dependent and exact leaves in the receipt (no exact count of suppressed groups).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa

from pdzone.cleanroom import dp
from pdzone.cleanroom.analysis import Plan
from pdzone.cleanroom.rewrite import Exact
from pdzone.errors import Forbidden

MAX_GRID = 10_000


@dataclass
class Budgeting:
    """How a DP query spends its ε: one part per measured quantity (public parameters only)."""

    epsilon: Decimal
    delta: float
    L: int
    min_group: int
    parts: list[dp.Part] = field(default_factory=list)
    selection: tuple[dp.Part, int] | None = None      # (part, threshold) when keys are not public
    count_part: dp.Part | None = None
    by_output: dict[int, dict[str, dp.Part]] = field(default_factory=dict)
    candidates: dict[int, list[float]] = field(default_factory=dict)
    grid: list[tuple] | None = None

    def as_dict(self) -> dict:
        d = {"epsilon": str(self.epsilon), "contribution_bound": self.L, "min_group_size": self.min_group,
             "parts": [p.as_dict() for p in self.parts]}
        if self.selection is not None:
            d["partition_selection"] = {"threshold": self.selection[1], "delta": self.selection[0].delta}
        return d


def plan_budget(plan: Plan, epsilon: Decimal, *, delta: float, min_group: int) -> Budgeting:
    """Split ε over the query's measured quantities (equal parts) and set every scale. No data read."""
    L = max(t.max_contributions for t in plan.tables.values())
    pieces: list[tuple[int | None, str]] = [(None, "rows")]  # the per-group noisy row count
    for i, o in enumerate(plan.outputs):
        if o.kind == "count" and o.column is not None:
            pieces.append((i, "count"))
        elif o.kind == "sum":
            pieces.append((i, "sum"))
        elif o.kind == "avg":
            pieces += [(i, "sum"), (i, "count")]
        elif o.kind == "quantile":
            pieces.append((i, "quantile"))
    each = float(epsilon) / len(pieces)
    b = Budgeting(epsilon, 0.0, L, min_group)
    public = bool(plan.group_by) and all(v is not None for v in plan.group_public)
    if public:
        grid = list(itertools.product(*plan.group_public))
        if len(grid) > MAX_GRID:
            raise Forbidden(f"公开分组组合过多（超过 {MAX_GRID}）",
                            f"too many public group combinations (over {MAX_GRID})",
                            code="query_too_complex")
        b.grid = grid
    name_of = {None: "count"} | {i: o.name for i, o in enumerate(plan.outputs)}
    for o in plan.outputs:
        if o.kind == "count" and o.column is None:
            name_of[None] = o.name
    for idx, what in pieces:
        out = name_of[idx]
        if idx is None:
            if plan.group_by and not public:
                part, thr = dp.selection_part(out, each, L, delta, min_group)
                b.selection = (part, thr)
                b.delta = part.delta
            else:
                part = dp.count_part(out, each, L)
            b.count_part = part
        elif what == "count":
            part = dp.count_part(out, each, L)
        elif what == "sum":
            part = dp.sum_part(out, each, L, plan.outputs[idx].bounds)
        else:
            part = dp.quantile_part(out, each, L)
            b.candidates[idx] = dp.candidate_grid(plan.outputs[idx].bounds)
        b.parts.append(part)
        if idx is not None:
            b.by_output.setdefault(idx, {})[what] = part
    return b


def _key(values: tuple) -> str:
    return "\x1f".join("" if v is None else str(v) for v in values)


def _typed(v: str, col_type: str):
    t = col_type.upper()
    try:
        if any(x in t for x in ("INT", "BIGINT")):
            return int(v)
        if any(x in t for x in ("DOUBLE", "FLOAT", "DECIMAL", "REAL")):
            return float(v)
    except ValueError:
        return v
    return v


def json_value(v):
    if isinstance(v, dt.date | dt.datetime | dt.time):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, bytes):
        return v.hex()
    return v


def exact_rows(plan: Plan, ex: Exact, table: pa.Table, *, k: int | None) -> list[list]:
    """Levels 1-2: exact values, groups under k distinct privacy units dropped (level 2)."""
    cols = table.to_pydict()
    n = table.num_rows
    out = []
    for r in range(n):
        if k is not None and ex.k_col is not None and (cols[ex.k_col][r] or 0) < k:
            continue
        row = []
        for i, o in enumerate(plan.outputs):
            if o.kind == "group":
                row.append(json_value(cols[ex.group_cols[o.group_index]][r]))
            else:
                roles = ex.out_cols[i]
                c = roles.get("value") or roles.get("count") or roles.get("sum")
                v = cols[c][r]
                row.append(json_value(v if v is not None or o.kind == "group" else 0))
        out.append(row)
    return out


def dp_rows(plan: Plan, ex: Exact, table: pa.Table, b: Budgeting) -> list[list]:
    """Levels 3-4: noisy values for released groups only (OpenDP samplers)."""
    cols = table.to_pydict()
    keys = [tuple(cols[g][r] for g in ex.group_cols) for r in range(table.num_rows)]
    index = {_key(k): r for r, k in enumerate(keys)}
    if not plan.group_by:
        cells = [((), index.get(""))]
    elif b.grid is not None:
        cells = [(g, index.get(_key(g))) for g in b.grid]
    else:
        cells = None
    if cells is not None:
        exact_n = [cols["_n"][r] if r is not None else 0 for _, r in cells]
        noisy_n = [max(0, v) for v in dp.noisy_counts(exact_n, b.count_part)]  # post-processing
    else:  # DP partition selection: only keys whose noisy count passes the threshold
        part, thr = b.selection
        counts = {_key(k): int(cols["_n"][r]) for r, k in enumerate(keys)}
        chosen = dp.select_partitions(counts, part, thr)
        cells = [(keys[index[k]], index[k]) for k in sorted(chosen)]
        noisy_n = [chosen[_key(k)] for k, _ in cells]
    rows_idx = [r for _, r in cells]

    def exact(col: str) -> list:
        return [(cols[col][r] or 0) if r is not None else 0 for r in rows_idx]

    values: dict[int, list] = {}
    for i, o in enumerate(plan.outputs):
        parts = b.by_output.get(i, {})
        roles = ex.out_cols.get(i, {})
        if o.kind == "count" and o.column is None:
            values[i] = list(noisy_n)
        elif o.kind == "count":
            values[i] = [max(0, v) for v in dp.noisy_counts([int(v) for v in exact(roles["count"])], parts["count"])]
        elif o.kind == "sum":
            values[i] = dp.noisy_sums([float(v) for v in exact(roles["sum"])], parts["sum"])
        elif o.kind == "avg":
            s = dp.noisy_sums([float(v) for v in exact(roles["sum"])], parts["sum"])
            c = dp.noisy_counts([int(v) for v in exact(roles["count"])], parts["count"])
            lo, hi = o.bounds
            values[i] = [min(hi, max(lo, sv / cv)) if cv > 0 else None for sv, cv in zip(s, c, strict=True)]
        elif o.kind == "quantile":
            cand = b.candidates[i]
            qs = []
            for r in rows_idx:
                lt = [int(cols[roles[f"lt{j}"]][r] or 0) if r is not None else 0 for j in range(len(cand))]
                gt = [int(cols[roles[f"gt{j}"]][r] or 0) if r is not None else 0 for j in range(len(cand))]
                qs.append(dp.noisy_quantile(lt, gt, o.q, cand, parts["quantile"]))
            values[i] = qs
    out = []
    for c, (key, _) in enumerate(cells):
        small = noisy_n[c] < b.min_group
        row = []
        for i, o in enumerate(plan.outputs):
            if o.kind == "group":
                v = key[o.group_index]
                if b.grid is not None:
                    col = _group_column_type(plan, o.group_index)
                    v = _typed(v, col) if isinstance(v, str) and col else v
                row.append(json_value(v))
            elif small and not (o.kind == "count" and o.column is None):
                row.append(None)   # below the minimum group size (judged on the noisy count)
            else:
                v = values[i][c]
                if isinstance(v, float) and not math.isfinite(v):
                    v = None
                row.append(v)
        out.append(row)
    return out


def _group_column_type(plan: Plan, gi: int) -> str | None:
    from sqlglot import exp

    g = plan.group_by[gi]
    if not isinstance(g, exp.Column):
        return None
    for alias, t in plan.tables.items():
        if (not g.table or g.table == alias) and g.name in t.columns:
            return t.columns[g.name].type
    return None


def order_and_limit(plan: Plan, rows: list[list]) -> list[list]:
    """ORDER BY and LIMIT, applied to released values only (post-processing)."""
    for idx, desc in reversed(plan.order):
        present = [r for r in rows if r[idx] is not None]
        missing = [r for r in rows if r[idx] is None]
        present.sort(key=lambda r: (str(type(r[idx])), r[idx]), reverse=desc)
        rows = present + missing
    if plan.limit is not None and plan.kind == "aggregate":
        rows = rows[:plan.limit]
    return rows
