"""From what the engine computed (inside the zone) to what may be released, by level.

The clean room describes a checked query with a `ReleaseSpec` (built from its plan: what each output
is, its bounds, the public values of its group keys, the level, where each column is used) and hands
the engine's exact result to the egress gate as `Computed`. The gate applies these rules:

- Level 1: exact aggregates; every group key goes out under its column's masking policy, and groups
  whose masked keys coincide are merged exactly (counts and sums add; averages from their parts).
  Rows go out only de-identified (every column masked).
- Level 2: ad-hoc queries are answered with DP, like level 3 (level-2 budget and minimum group).
  Exact answers only through a reviewed template the security admin approved for the grant; a group
  is released only if at least k distinct privacy units stand behind it (computed exactly). A
  template's differencing risk is noted in its review.
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

from pdzone.egress import dp
from pdzone.errors import Forbidden

Column = tuple[str, str]   # (table alias, column name)


@dataclass(frozen=True)
class OutputSpec:
    """One output column of a checked query, as the gate needs to know it (no SQL)."""

    name: str
    kind: str                                 # group | column | count | count_distinct | sum | avg | quantile
    group_index: int | None = None
    column: Column | None = None              # the bare source column, when the argument is one
    star: bool = False                        # COUNT(*)
    bounds: tuple[float, float] | None = None
    q: float | None = None
    sources: frozenset[Column] = frozenset()  # every source column reaching this output


@dataclass(frozen=True)
class ReleaseSpec:
    """The description of a checked query that the gate releases by (public parameters only)."""

    kind: str                                 # rows | aggregate
    level: int
    outputs: tuple[OutputSpec, ...]
    tables: dict[str, int]                    # alias -> dataset id
    group_columns: tuple[Column | None, ...] = ()    # each group key's bare column, None for an expression
    group_sources: tuple[frozenset[Column], ...] = ()
    group_public: tuple[tuple | None, ...] = ()
    group_types: tuple[str | None, ...] = ()
    where_sources: frozenset[Column] = frozenset()
    joins_on_units: bool = True               # every join is on the privacy-unit columns
    privacy_units: bool = True                # every table read has a privacy-unit column
    order: tuple[tuple[int, bool], ...] = ()
    limit: int | None = None
    contributions: int = 1                    # L: rows one person may contribute
    template: bool = False                    # level 2: a reviewed template approved for the grant


class Mechanism:
    MASKED_ROWS = "masked_rows"
    EXACT = "exact"
    THRESHOLD = "threshold"
    DP = "dp"


def mechanism(spec: ReleaseSpec) -> str:
    """How the answer is made releasable: a function of the level and the review, never of the data."""
    if spec.kind == "rows":
        return Mechanism.MASKED_ROWS
    if spec.level == 1:
        return Mechanism.EXACT
    if spec.level == 2 and spec.template:
        return Mechanism.THRESHOLD
    return Mechanism.DP


@dataclass
class Computed:
    """What the engine computed for a checked query: exact aggregates per group, or a row batch."""

    spec: ReleaseSpec
    table: pa.Table
    group_cols: list[str]
    out_cols: dict[int, dict[str, str]]       # output index -> role -> result column
    k_col: str | None
    budget: Budgeting | None = None


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


def plan_budget(plan: ReleaseSpec, epsilon: Decimal, *, delta: float, min_group: int) -> Budgeting:
    """Split ε over the query's measured quantities (equal parts) and set every scale. No data read."""
    L = plan.contributions
    pieces: list[tuple[int | None, str]] = [(None, "rows")]  # the per-group noisy row count
    for i, o in enumerate(plan.outputs):
        if o.kind == "count" and not o.star:   # COUNT(expr) counts non-null values: its own measure
            pieces.append((i, "count"))
        elif o.kind == "sum":
            pieces.append((i, "sum"))
        elif o.kind == "avg":
            pieces += [(i, "sum"), (i, "count")]
        elif o.kind == "quantile":
            pieces.append((i, "quantile"))
    each = float(epsilon) / len(pieces)
    b = Budgeting(epsilon, 0.0, L, min_group)
    public = bool(plan.group_public) and all(v is not None for v in plan.group_public)
    if public:
        grid = list(itertools.product(*plan.group_public))
        if len(grid) > MAX_GRID:
            raise Forbidden(f"公开分组组合过多（超过 {MAX_GRID}）",
                            f"too many public group combinations (over {MAX_GRID})",
                            code="query_too_complex")
        b.grid = grid
    name_of = {None: "count"} | {i: o.name for i, o in enumerate(plan.outputs)}
    for o in plan.outputs:
        if o.kind == "count" and o.star:
            name_of[None] = o.name
    for idx, what in pieces:
        out = name_of[idx]
        if idx is None:
            if plan.group_public and not public:
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


def exact_rows(c: Computed, table: pa.Table, *, k: int | None, min_rows: int | None = None) -> list[list]:
    """Levels 1-2 (exact): groups under k distinct privacy units dropped (level-2 templates); groups whose
    released keys coincide (level-1 keys after masking) merged exactly: counts and sums add, averages
    are recomputed from their sums and counts. The gate refuses beforehand what cannot merge exactly.

    `min_rows` (level 1 under a grant without the rows form): after merging, a group that stands for
    fewer rows than this (the engine's exact COUNT(*) per group, `_n`) is dropped, so that GROUP BY
    over every column cannot release the rows the grant withholds. Without GROUP BY nothing is dropped."""
    plan, ex = c.spec, c
    cols = table.to_pydict()
    merged: dict[tuple, dict[int, list]] = {}
    sizes: dict[tuple, int] = {}
    if min_rows is not None and ex.group_cols and "_n" not in cols:
        return []   # pragma: no cover - the rewrite always counts the rows per group
    for r in range(table.num_rows):
        if k is not None and (ex.k_col is None or (cols[ex.k_col][r] or 0) < k):
            continue   # no k column means no threshold could be applied: nothing is released
        key = tuple(json_value(cols[g][r]) for g in ex.group_cols)
        if min_rows is not None and ex.group_cols:
            sizes[key] = sizes.get(key, 0) + int(cols["_n"][r] or 0)
        acc = merged.get(key)
        first = acc is None
        if first:
            acc = merged[key] = {}
        for i, o in enumerate(plan.outputs):
            if o.kind == "group":
                continue
            roles = ex.out_cols[i]
            if o.kind == "avg" and "sum" in roles:
                s_, n_ = cols[roles["sum"]][r], cols[roles["count"]][r]
                a = acc.setdefault(i, [None, 0])
                if s_ is not None:
                    a[0] = (a[0] or 0) + s_
                a[1] += int(n_ or 0)
                continue
            v = cols[roles.get("value") or roles.get("count") or roles.get("sum")][r]
            if first:
                acc[i] = [v]
            elif o.kind in ("count", "sum"):
                if v is not None:
                    acc[i][0] = v if acc[i][0] is None else acc[i][0] + v
            else:  # pragma: no cover - refused before the query runs (see gate.check_release)
                raise RuntimeError("outputs that cannot merge exactly")
    out = []
    for key, acc in merged.items():
        if min_rows is not None and ex.group_cols and sizes[key] < min_rows:
            continue
        row = []
        for i, o in enumerate(plan.outputs):
            if o.kind == "group":
                row.append(key[o.group_index])
                continue
            if o.kind == "avg" and "sum" in ex.out_cols[i]:
                s_, n_ = acc[i]
                v = s_ / n_ if n_ and s_ is not None else None
            else:
                v = acc[i][0]
            row.append(json_value(v if v is not None else (0 if o.kind != "avg" else None)))
        out.append(row)
    return out


def dp_rows(c: Computed) -> list[list]:
    """Levels 2 (ad hoc) to 4: noisy values for released groups only (OpenDP samplers)."""
    plan, ex, table, b = c.spec, c, c.table, c.budget
    assert b is not None
    cols = table.to_pydict()
    keys = [tuple(cols[g][r] for g in ex.group_cols) for r in range(table.num_rows)]
    index = {_key(k): r for r, k in enumerate(keys)}
    if not plan.group_public:
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
        if o.kind == "count" and o.star:
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
                    col = plan.group_types[o.group_index]
                    v = _typed(v, col) if isinstance(v, str) and col else v
                row.append(json_value(v))
            elif small and not (o.kind == "count" and o.star):
                row.append(None)   # below the minimum group size (judged on the noisy count)
            else:
                v = values[i][c]
                if isinstance(v, float) and not math.isfinite(v):
                    v = None
                row.append(v)
        out.append(row)
    return out


def order_and_limit(plan: ReleaseSpec, rows: list[list]) -> list[list]:
    """ORDER BY and LIMIT, applied to released values only (post-processing)."""
    for idx, desc in reversed(plan.order):
        present = [r for r in rows if r[idx] is not None]
        missing = [r for r in rows if r[idx] is None]
        present.sort(key=lambda r: (str(type(r[idx])), r[idx]), reverse=desc)
        rows = present + missing
    if plan.limit is not None and plan.kind == "aggregate":
        rows = rows[:plan.limit]
    return rows
