"""Masking throughput: in-engine operators (DuckDB SQL) and HMAC pseudonyms, each beside its in-run baseline.

Targets (issue): >= 10M cells/s for the in-engine operators (partial mask, generalization, coding) and >= 0.3M
values/s for HMAC-SM3 pseudonyms. Baselines measured in the same run: the same SELECT without masking (the
operators' cost is the difference), and one HMAC-SM3 per value through the `cryptography` library (the way
`get_suite("gm").hmac` does it). Medians of REPEAT runs; the machine is noisy, so read the ratios.

    python bench/masking.py [ROWS]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import duckdb
import pyarrow as pa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac

from pdzone.crypto import get_suite
from pdzone.protect.masking import ColumnPolicy, Pseudonymizer, mask_query

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
REPEAT = 5
HMAC_VALUES = 500_000
BASELINE_VALUES = 100_000

P = ColumnPolicy
ENGINE = {  # the five columns of the headline figure: partial masks, generalization, coding
    "姓名": P(op="partial", keep_first=1),
    "身份证号": P(op="id_generalize"),
    "手机号": P(op="partial", keep_first=3, keep_last=4),
    "年龄": P(op="age_band", cap=90),
    "月收入": P(op="top_code", cap=50000),
}
SINGLE = [  # one operator at a time
    ("partial 1/0", "姓名", P(op="partial", keep_first=1)),
    ("partial 3/4", "手机号", P(op="partial", keep_first=3, keep_last=4)),
    ("id_generalize", "身份证号", P(op="id_generalize")),
    ("age_band", "年龄", P(op="age_band", cap=90)),
    ("date_month", "出生日期", P(op="date_month")),
    ("date_year", "出生日期", P(op="date_year")),
    ("date_year (text)", "出生日期文本", P(op="date_year")),
    ("address_district", "住址", P(op="address_district")),
    ("top_code", "月收入", P(op="top_code", cap=50000)),
    ("redact", "姓名", P(op="redact")),
    ("suppress k=5", "住址", P(op="suppress", min_count=5)),
]


def make_data(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    """Synthetic people, generated inside DuckDB (deterministic: hashes of the row number)."""
    con.execute(f"""
        CREATE TABLE "人口" AS
        WITH s AS (SELECT i, CAST(hash(i) % 1000000000000 AS BIGINT) AS h FROM range({rows}) t(i))
        SELECT
          ['张','王','李','赵','刘','陈','杨','黄','欧阳','司马'][1 + h % 10]
            || ['伟','芳','娜','敏','静','丽','强','磊','军','洋'][1 + (h // 10) % 10]
            || CASE WHEN h % 3 = 0 THEN '' ELSE ['华','明','英','杰','平'][1 + (h // 100) % 5] END AS "姓名",
          ['110105','310115','440305','330106','510107'][1 + (h // 7) % 5]
            || strftime(DATE '1940-01-01' + CAST((h // 11) % 29000 AS INTEGER), '%Y%m%d')
            || lpad(CAST((h // 13) % 1000 AS VARCHAR), 3, '0')
            || ['0','1','2','3','4','5','6','7','8','9','X'][1 + (h // 17) % 11] AS "身份证号",
          '1' || CAST(3 + (h // 19) % 7 AS VARCHAR)
            || lpad(CAST((h // 23) % 1000000000 AS VARCHAR), 9, '0') AS "手机号",
          CAST((h // 29) % 100 AS INTEGER) AS "年龄",
          DATE '1940-01-01' + CAST((h // 11) % 29000 AS INTEGER) AS "出生日期",
          strftime(DATE '1940-01-01' + CAST((h // 11) % 29000 AS INTEGER), '%Y-%m-%d') AS "出生日期文本",
          ['北京市朝阳区','上海市浦东新区','广东省深圳市南山区','浙江省杭州市西湖区',
           '四川省成都市武侯区'][1 + (h // 31) % 5]
            || ['建国路','世纪大道','科技园路','文三路','人民南路'][1 + (h // 37) % 5]
            || CAST((h // 41) % 500 AS VARCHAR) || '号' AS "住址",
          CAST((h // 43) % 80000 AS DOUBLE) + 0.5 AS "月收入"
        FROM s""")


def paired(baseline, measured, repeat: int = REPEAT) -> tuple[float, float]:
    """Medians of baseline and measured run alternately, so both see the same load on a shared machine."""
    b, m = [], []
    for _ in range(repeat):
        for fn, out in ((baseline, b), (measured, m)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(b), statistics.median(m)


def raw_select(con, columns):
    cols = ", ".join(f'"{c}"' for c in columns)
    return con.sql(f'SELECT {cols} FROM "人口"').to_arrow_table()


def main() -> None:
    con = duckdb.connect()
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    t = time.perf_counter()
    make_data(con, ROWS)
    print(f"masking bench: {ROWS:,} rows, DuckDB {duckdb.__version__} ({threads} threads), {os.cpu_count()} CPUs; "
          f"data made in {time.perf_counter() - t:.1f}s; medians of {REPEAT}\n")

    cols = list(ENGINE)
    cells = ROWS * len(cols)
    base, masked = paired(lambda: raw_select(con, cols),
                          lambda: mask_query(con, "人口", cols, ENGINE, pseudonymizer=None))
    print(f"in-engine, {len(cols)} columns ({', '.join(p.op.value for p in ENGINE.values())}):")
    print(f"  baseline SELECT (no masking)  {base:7.3f}s  {cells / base / 1e6:7.1f}M cells/s")
    print(f"  masked SELECT                 {masked:7.3f}s  {cells / masked / 1e6:7.1f}M cells/s   "
          f"ratio {masked / base:4.1f}x   (target >= 10M cells/s)\n")

    print(f"  {'operator':<18}{'column':<10}{'masked':>9}{'M cells/s':>11}{'baseline':>10}{'ratio':>7}")
    for label, column, policy in SINGLE:
        b, m = paired(lambda column=column: raw_select(con, [column]),
                      lambda column=column, policy=policy: mask_query(con, "人口", [column], {column: policy},
                                                                      pseudonymizer=None))
        print(f"  {label:<18}{column:<10}{m:8.3f}s{ROWS / m / 1e6:10.1f} {b:8.3f}s{m / b:6.1f}x")

    # --- pseudonyms ---------------------------------------------------------------------------------------------
    key = os.urandom(32)
    n = min(HMAC_VALUES, ROWS)
    unique = con.sql(f'SELECT "身份证号" FROM "人口" LIMIT {n}').to_arrow_table().column(0)
    # a code column: 1,000 distinct values, each in every batch (deduplicated: hashed once each)
    repeated = pa.chunked_array([pa.array([f"110105{(i * 7919) % 1000:04d}" for i in range(n)])])
    values = unique.to_pylist()[:BASELINE_VALUES]
    print("\npseudonyms (HMAC, first 16 bytes as hex), per value:")

    def per_value_cryptography():
        for v in values:
            h = c_hmac.HMAC(key, hashes.SM3())
            h.update(v.encode())
            h.finalize()

    def line(label: str, per_value: float, extra: str = "") -> None:
        print(f"  {label:<58}{per_value * 1e6:6.2f} µs {1 / per_value / 1e6:6.2f}M values/s{extra}")

    gm = get_suite("gm")
    b1, b2 = paired(per_value_cryptography, lambda: [gm.hmac(key, v.encode()) for v in values], 3)
    b1, b2 = b1 / len(values), b2 / len(values)
    line("baseline: cryptography HMAC-SM3, one HMAC object per value", b1)
    line("baseline: get_suite('gm').hmac per value", b2)
    for suite in ("gm", "intl"):
        p = Pseudonymizer(key, suite)
        for label, column in ((f"{n:,} distinct values", unique), (f"{n:,} values, 1,000 distinct", repeated)):
            # each run beside a baseline run over the same number of values
            base, ours = paired(lambda: [per_value_cryptography() for _ in range(n // len(values))],
                                lambda p=p, column=column: p.pseudonym(column), 3)
            name = "HMAC-SM3" if suite == "gm" else "HMAC-SHA256"
            line(f"Pseudonymizer {name}, {label}", ours / n,
                 f"   {base / ours:4.1f}x the HMAC-SM3 baseline ({base / n * 1e6:.2f} µs in the same runs)")
    print("  (target >= 0.3M values/s for HMAC-SM3)")

    # --- end to end: the five columns with the ID number as a pseudonym -----------------------------------------
    e2e = dict(ENGINE, 身份证号=P(op="pseudonym"))
    p = Pseudonymizer(key, "gm")
    quoted = ", ".join(f'"{c}"' for c in cols)
    b, m = paired(lambda: con.sql(f'SELECT {quoted} FROM "人口" LIMIT {n}').to_arrow_table(),
                  lambda: mask_query(con, "人口", cols, e2e, pseudonymizer=p, limit=n), 3)
    print(f"\nmask_query, {len(cols)} columns incl. 1 HMAC-SM3 pseudonym, {n:,} rows: {m:.3f}s "
          f"({n * len(cols) / m / 1e6:.1f}M cells/s); baseline SELECT {b:.3f}s; ratio {m / b:.1f}x")


if __name__ == "__main__":
    main()
