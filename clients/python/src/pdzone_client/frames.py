"""Turning the API's ``{"columns", "rows"}`` answers into pandas DataFrames.

Values are kept as the server sent them (dates stay ISO strings); only the column's dtype is chosen
so that pandas does not bend them: a column of integers with a gap stays integers (nullable
``Int64``) instead of turning into floats, and a missing value (JSON null) stays missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

from pdzone_client.errors import ServerError

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def column(values: list[Any]) -> pd.Series:
    """One column with a dtype that keeps its values: ints stay ints, None stays missing."""
    present = [v for v in values if v is not None]
    gaps = len(present) < len(values)
    if present and all(isinstance(v, bool) for v in present):
        return pd.Series(values, dtype="boolean" if gaps else bool)
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        if all(_I64_MIN <= v <= _I64_MAX for v in present):
            return pd.Series(values, dtype="Int64" if gaps else "int64")
        return pd.Series(values, dtype=object)  # beyond 64 bits: Python ints, exact
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pd.Series([float("nan") if v is None else float(v) for v in values], dtype="float64")
    if present and all(isinstance(v, str) for v in present):
        return pd.Series(values)  # pandas' string dtype of the installed version; None is missing
    return pd.Series(values, dtype=object)  # mixed, nested or all-null: as sent


def frame(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, attrs: dict[str, Any] | None = None
          ) -> pd.DataFrame:
    """A DataFrame from column names and rows of values in column order (names may repeat)."""
    names = [str(c) for c in columns]
    for i, row in enumerate(rows):
        if len(row) != len(names):
            raise ServerError(f"结果第 {i} 行有 {len(row)} 个值，但有 {len(names)} 列",
                              f"result row {i} has {len(row)} values for {len(names)} columns",
                              code="bad_response")
    data = {i: column([row[i] for row in rows]) for i in range(len(names))}
    df = pd.DataFrame(data, index=pd.RangeIndex(len(rows)), columns=range(len(names)))
    df.columns = pd.Index(names, dtype=object)
    if attrs:
        df.attrs.update(attrs)
    return df


def decimal(value: Any, field: str) -> Decimal | None:
    """An exact decimal from a JSON string or number (a float goes through its shortest repr)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ServerError(f"{field} 不是数值", f"{field} is not a number", code="bad_response")
    try:
        return Decimal(value if isinstance(value, str | int) else repr(float(value)))
    except (InvalidOperation, TypeError, ValueError):
        raise ServerError(f"{field} 不是数值：{value!r}", f"{field} is not a number: {value!r}",
                          code="bad_response") from None


BUDGET_COLUMNS = ["grant_id", "epsilon_total", "epsilon_spent", "epsilon_left", "datasets", "expires_at"]
_EPSILONS = ("epsilon_total", "epsilon_spent", "epsilon_left")


def budget_frame(body: dict[str, Any]) -> pd.DataFrame:
    """One row per grant; the epsilon columns hold `decimal.Decimal` so sums and comparisons are exact."""
    grants = body.get("grants") or []
    extra = sorted({k for g in grants for k in g} - set(BUDGET_COLUMNS))
    names = BUDGET_COLUMNS + extra
    rows = [[decimal(g.get(k), k) if k in _EPSILONS else g.get(k) for k in names] for g in grants]
    return frame(names, rows, attrs={"scenario": body.get("scenario")})  # Decimals make object columns
