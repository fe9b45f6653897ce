"""Import of a 1,000,000-row CSV with encryption, and queries over encrypted storage.

Targets (issue): import ≤ 15 s; a warm query over encrypted storage ≤ 1.2× the same query over
plaintext (DuckDB reading a plaintext Parquet file); the cold query is reported too. In-run
baseline for the import: reading the same CSV with pyarrow and writing plaintext Parquet.

    python bench/catalog_import.py            # 1,000,000 rows
    PDZONE_BENCH_ROWS=200000 python bench/catalog_import.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from _common import median, runtime

from pdzone.audit.events import os_actor
from pdzone.catalog import actions as cat
from pdzone.dataplane import storage
from pdzone.dataplane.engine import with_tables
from pdzone.governance.actions import do_create_zone
from pdzone.identity.actions import do_create_org

N = int(os.environ.get("PDZONE_BENCH_ROWS", "1000000"))
W = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
DISTRICTS = np.array(["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "通州区", "昌平区"])
SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"))
GIVEN = np.array(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"))


def make_csv(path: Path, n: int, seed: int = 1) -> None:
    """A social-insurance-like table with valid ID numbers, generated vectorized."""
    rng = np.random.default_rng(seed)
    region = rng.choice(np.array([110101, 110102, 110105, 110108]), n)
    born = np.datetime64("1950-01-01") + rng.integers(0, 365 * 50, n).astype("timedelta64[D]")
    ymd = np.char.replace(born.astype(str), "-", "")
    order = rng.integers(0, 1000, n)
    first17 = np.char.add(np.char.add(region.astype(str), ymd), np.char.zfill(order.astype(str), 3))
    d = np.frombuffer("".join(first17.tolist()).encode(), dtype=np.uint8).reshape(n, 17) - 48
    check = np.array(list("10X98765432"))[(d * W).sum(axis=1) % 11]
    ids = np.char.add(first17, check)
    names = np.char.add(rng.choice(SURNAMES, n), np.char.add(rng.choice(GIVEN, n), rng.choice(GIVEN, n)))
    base = rng.integers(6326, 35283, n)
    month = np.char.add("2025-", np.char.zfill(rng.integers(1, 13, n).astype(str), 2))
    mobile = np.char.add("139", np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8))
    table = pa.table({
        "身份证号": ids, "姓名": names, "缴费月份": month, "缴费基数": base, "个人缴费额": np.round(base * 0.08, 2),
        "单位缴费额": np.round(base * 0.16, 2), "参保区": rng.choice(DISTRICTS, n), "手机号": mobile,
        "险种": rng.choice(np.array(["养老", "医疗", "失业", "工伤"]), n),
        "缴费状态": rng.choice(np.array(["正常", "补缴"]), n),
    })
    pacsv.write_csv(table, path)


QUERY = 'SELECT "参保区", count(*), sum("缴费基数"), avg("个人缴费额") FROM {t} GROUP BY 1 ORDER BY 1'


def main():
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "social_insurance.csv"
        t = time.perf_counter()
        make_csv(src, N)
        print(f"rows: {N:,}  csv: {src.stat().st_size / 1e6:.0f} MB (generated in {time.perf_counter() - t:.1f} s)")
        base = []
        for _ in range(3):
            t = time.perf_counter()
            pq.write_table(pacsv.read_csv(src), Path(d) / "plain.parquet", compression="zstd")
            base.append(time.perf_counter() - t)
        with runtime("sqlite") as rt:
            with rt.store.transaction() as s:
                do_create_zone(s, code="zone_b", name="专区", type="domain", supervisor=None, actor=os_actor())
                do_create_org(s, name="人社局", kind="provider", uscc=_uscc(), zone_code="zone_b", actor=os_actor())
            runs = []
            for i in range(3):
                t = time.perf_counter()
                ds = cat.import_dataset(rt.store, rt.keystore, rt.suite, rt.datasets, src, name=f"si_{i}",
                                        zone_code="zone_b", provider="人社局", actor=os_actor())
                runs.append(time.perf_counter() - t)
            print(f"import with encryption ({rt.suite.cipher_name}): median {median(runs):.2f} s; baseline "
                  f"(read CSV + write plaintext Parquet) {median(base):.2f} s; ratio {median(runs) / median(base):.2f}")
            with rt.store.sessions() as s:
                ds = cat.find_dataset(s, "si_0")
                key = cat.data_key(s, rt.keystore, rt.suite, ds)
            plain = duckdb.connect()
            pfile = str(Path(d) / "plain.parquet")
            plain_t = [min(_time(lambda: plain.execute(QUERY.format(t=f"read_parquet('{pfile}')")).fetchall()))
                       for _ in range(5)]
            cold = []
            for _ in range(3):
                storage.CACHE.drop(ds.id)
                t = time.perf_counter()
                con = with_tables({"t": rt.datasets.read(ds.id, ds.version, key)})
                con.execute(QUERY.format(t="t")).fetchall()
                cold.append(time.perf_counter() - t)
            con = with_tables({"t": rt.datasets.read(ds.id, ds.version, key)})
            warm = [min(_time(lambda con=con: con.execute(QUERY.format(t="t")).fetchall())) for _ in range(5)]
            print(f"query plaintext Parquet: {median(plain_t) * 1000:.1f} ms; encrypted warm: "
                  f"{median(warm) * 1000:.1f} ms (ratio {median(warm) / median(plain_t):.2f}); "
                  f"encrypted cold: {median(cold) * 1000:.0f} ms")
    print("targets: import <= 15 s; warm query <= 1.2x plaintext")


def _time(fn, n=3):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _uscc() -> str:
    from stdnum.cn import uscc

    partial = "91110105000000001" + "0"
    return partial[:-1] + uscc.calc_check_digit(partial)


if __name__ == "__main__":
    main()
