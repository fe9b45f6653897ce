"""pdzone's clean room against SmartNoise SQL on the same 1M-row data and the same 100 queries.

Target (issue): on a 1M-row table with one row per person as the privacy unit, at the ε SmartNoise
actually accounts, pdzone answers ≥ 10× faster (median per query) with no larger mean relative
error over 100 distinct queries.

The data: `people`, one row per person (`pid`), a dimension `age_band` with 20 public values of
skewed sizes, a measure `amount` in [0, 20000] (log-normal, median ~5000). The query, 100 times
with distinct WHERE ranges on the measure (so no stored answer can serve one):

    SELECT age_band, COUNT(*) AS n, AVG(amount) AS avg_amount FROM people
    WHERE amount >= LO AND amount < HI GROUP BY age_band

pdzone: the table imported as a level-3 dataset (contribution bound L = 1, `age_band` public,
`amount` bounded) with a grant, then `service.run` per query end to end: analysis, the stored
bounded copy, DuckDB, OpenDP noise, the egress gate's charge, audit event and sealed stored answer
(SQLite store). SmartNoise SQL: its pandas reader (it copies the frame into an in-memory SQLite
database) in its own virtualenv, driven by bench/_smartnoise_worker.py in a subprocess that imports
no pdzone. Exact answers: DuckDB on the same Arrow table; that raw query's time is the unprotected
baseline. The systems run interleaved query by query (alternating who goes first), so a busy
machine slows them alike.

ε matching: SmartNoise spends its `Privacy(epsilon=...)` on every mechanism a query needs, and its
odometer (`PrivateReader.get_privacy_cost`, asked per query) sums them. pdzone is asked for exactly
that sum as the query's ε, which it splits over its own measured quantities; the receipt of every
pdzone answer is checked to show that ε spent. Two SmartNoise configurations, each against pdzone at
the ε SmartNoise accounts for it:

    defaults     SmartNoise's table defaults (censor_dims, sample_max_ids), as in the issue: ε = 1
                 per mechanism, four mechanisms (a key count for censoring, COUNT(*), SUM(amount),
                 COUNT(amount)): ε = 4 and a δ. pdzone needs no censoring, the groups being public:
                 it spends ε = 4 on three quantities and no δ.
    public_dims  censor_dims off (the groups public, as in pdzone) and sample_max_ids off (the data
                 trusted to hold one row per person, as pdzone's stored bounded copy guarantees):
                 three mechanisms, ε = 3; pdzone at ε = 3 has the same three noise scales.

Relative error per cell (query × age band × {n, avg_amount}): |released − exact| / |exact|; a cell
a system leaves out counts as error 1. The mean runs over every cell of every query.

    python3 -m venv /tmp/sn-venv && /tmp/sn-venv/bin/pip install smartnoise-sql   # once
    python bench/smartnoise_compare.py                    # 1,000,000 rows, 100 queries, both configs
    python bench/smartnoise_compare.py --rows 200000 --queries 20 --configs public_dims --profile
    PDZONE_BENCH_SN_PYTHON=/other/venv/bin/python python bench/smartnoise_compare.py
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from _cleanroom import Spec, build
from _common import runtime

from pdzone.cleanroom import service

HERE = Path(__file__).resolve().parent
BANDS = [f"{5 * i:02d}-{5 * i + 4:02d}" for i in range(19)] + ["95+"]
BAND_W = np.array([4, 4, 4, 5, 7, 9, 10, 9, 8, 8, 8, 7, 6, 5, 4, 3, 2, 1, 0.6, 0.3])
LO, HI = 0.0, 20000.0
SN_VENV = "/tmp/sn-venv"  # noqa: S108 - a scratch virtualenv of a third-party tool, never the project's
SN_PYTHON = os.environ.get("PDZONE_BENCH_SN_PYTHON", f"{SN_VENV}/bin/python")
SN_EPSILON, SN_DELTA = 1.0, 1e-7       # SmartNoise: ε per mechanism; δ (pdzone's per-query δ setting)
CONFIGS = {
    "defaults": {},
    "public_dims": {"censor_dims": False, "sample_max_ids": False},
}


def make_table(n: int, seed: int = 20260501) -> pa.Table:
    """One row per person; age bands of skewed sizes; amounts log-normal, capped at the bound."""
    rng = np.random.default_rng(seed)
    band = np.array(BANDS)[rng.choice(len(BANDS), n, p=BAND_W / BAND_W.sum())]
    amount = np.round(np.minimum(rng.lognormal(np.log(5000), 0.6, n), HI), 2)
    pid = np.char.add("P", np.char.zfill(np.arange(n).astype(str), 8))
    return pa.table({"pid": pid, "age_band": band, "amount": amount})


def ranges(nq: int) -> list[tuple[float, float]]:
    """Distinct [lo, hi) ranges on the measure, each wide enough that every age band keeps rows."""
    out = [(float(40 * i), float(7000 + 97 * i + 53 * (i % 7))) for i in range(nq)]
    assert len(set(out)) == nq
    return out


def sql_for(table: str, lo: float, hi: float) -> str:
    return (f"SELECT age_band, COUNT(*) AS n, AVG(amount) AS avg_amount FROM {table} "
            f"WHERE amount >= {lo:.1f} AND amount < {hi:.1f} GROUP BY age_band")


class SmartNoise:
    """One worker process in SmartNoise's virtualenv: a private reader over the CSV, one config."""

    def __init__(self, csv: Path, config: dict) -> None:
        meta = {"bench": {"public": {"people": {
            "max_ids": 1, "row_privacy": False, **config,
            "pid": {"type": "string", "private_id": True},
            "age_band": {"type": "string"},
            "amount": {"type": "float", "lower": LO, "upper": HI, "nullable": False},
        }}}}
        self.proc = subprocess.Popen([SN_PYTHON, str(HERE / "_smartnoise_worker.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, encoding="utf-8")
        self.info = self._ask({"csv": str(csv), "metadata": meta, "epsilon": SN_EPSILON, "delta": SN_DELTA})

    def _ask(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the SmartNoise worker stopped (exit {self.proc.wait()}); see its stderr above")
        return json.loads(line)

    def cost(self, sql: str) -> dict:
        return self._ask({"cost": sql})

    def run(self, sql: str) -> tuple[dict, float]:
        r = self._ask({"run": sql})
        return {row[0]: (row[1], row[2]) for row in r["rows"]}, r["seconds"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def rel_errors(exact: list[dict], got: list[dict]) -> dict:
    """Mean relative error per measure over the same cells (every band with rows, in every query)."""
    errs: dict[str, list[float]] = {"n": [], "avg_amount": []}
    missing = 0
    for ex, g in zip(exact, got, strict=True):
        for band, (n, a) in ex.items():
            gn, ga = g.get(band, (None, None))
            for key, e, v in (("n", n, gn), ("avg_amount", a, ga)):
                if v is None or not math.isfinite(float(v)):
                    errs[key].append(1.0)
                    missing += 1
                else:
                    errs[key].append(abs(float(v) - e) / abs(e))
    both = errs["n"] + errs["avg_amount"]
    return {"mre": statistics.fmean(both), "se": statistics.stdev(both) / math.sqrt(len(both)),
            "mre_n": statistics.fmean(errs["n"]), "mre_avg": statistics.fmean(errs["avg_amount"]),
            "cells": len(both), "missing": missing}


def pdzone_query(env, principal, sql: str, epsilon: Decimal) -> tuple[dict, float, dict]:
    t = time.perf_counter()
    out = service.run(env, principal, principal.actor(), sql=sql, scenario="bench", epsilon=epsilon)
    took = time.perf_counter() - t
    r = out["receipt"]
    assert not r.get("from_store"), "a stored answer served a query meant to be fresh"
    assert Decimal(r["epsilon_spent"]) == epsilon and r["delta_spent"] == 0, (r["epsilon_spent"], r["delta_spent"])
    return {b: (n, a) for b, n, a in out["rows"]}, took, r


def profile_pdzone(env, principal, qs, epsilon: Decimal) -> None:
    prof = cProfile.Profile()
    prof.enable()
    t = time.perf_counter()
    for lo, hi in qs:
        pdzone_query(env, principal, sql_for("people", lo, hi), epsilon)
    took = time.perf_counter() - t
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
    print(f"\n--- cProfile of service.run: {len(qs)} more distinct queries at ε {epsilon}, "
          f"{took / len(qs) * 1e3:.0f} ms each under the profiler (by own time) ---")
    print(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=int(os.environ.get("PDZONE_BENCH_ROWS", "1000000")))
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--configs", default=",".join(CONFIGS), help="SmartNoise configurations: " + ", ".join(CONFIGS))
    ap.add_argument("--profile", action="store_true", help="then profile pdzone's service.run on 20 more queries")
    args = ap.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    if not Path(SN_PYTHON).exists():
        sys.exit(f"SmartNoise's virtualenv is missing: {SN_PYTHON} (python3 -m venv {SN_VENV} && "
                 f"{SN_VENV}/bin/pip install smartnoise-sql), or set PDZONE_BENCH_SN_PYTHON")
    qs = ranges(args.queries)
    print(f"{args.rows:,} rows (one per person), {len(qs)} distinct queries; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at start; Python {platform.python_version()}, DuckDB {duckdb.__version__}")
    table = make_table(args.rows)
    raw = duckdb.connect()
    raw.execute("SET threads TO 2")            # as the clean room's DuckDB engine
    raw.register("people", table)

    with tempfile.TemporaryDirectory() as d, runtime("sqlite") as rt:
        tmp = Path(d)
        csv = tmp / "people.csv"
        pacsv.write_csv(table, csv)
        sn = {}
        for c in configs:
            sn[c] = SmartNoise(csv, CONFIGS[c])
            print(f"SmartNoise [{c}]: CSV read {sn[c].info['load_s']:.2f} s, reader built in "
                  f"{sn[c].info['build_s']:.2f} s")
        print("SmartNoise: " + ", ".join(f"{k} {x}" for k, x in next(iter(sn.values())).info["versions"].items()))

        # the ε SmartNoise accounts per query (its odometer), asked for every query before any runs
        costs = {c: [sn[c].cost(sql_for("public.people", lo, hi)) for lo, hi in qs] for c in configs}
        eps_for = {}
        for c in configs:
            seen = {(x["epsilon"], x["delta"]) for x in costs[c]}
            assert len(seen) == 1, f"SmartNoise accounts different costs across queries: {seen}"
            eps_for[c] = Decimal(repr(round(costs[c][0]["epsilon"], 9)))
        budget = sum(eps_for.values()) * (len(qs) + 20) + 1
        spec = Spec(table, level=3, unit="pid", contributions=1,
                    columns={"pid": ("join_key", None, None), "age_band": ("dimension", None, BANDS),
                             "amount": ("measure", (LO, HI), None)})
        city = build(rt, tmp, {"people": spec}, epsilon=str(budget), default_epsilon="1",
                     max_epsilon=str(max(eps_for.values())))
        env, principal = rt.cleanroom(), city.principal

        exact, raw_t = [], []
        got = {(who, c): [] for who in ("sn", "pdz") for c in configs}
        secs = {k: [] for k in got}
        receipts = {}
        t0 = time.perf_counter()
        for i, (lo, hi) in enumerate(qs):
            t = time.perf_counter()
            rows = raw.sql(sql_for("people", lo, hi)).fetchall()
            raw_t.append(time.perf_counter() - t)
            exact.append({b: (n, a) for b, n, a in rows})
            order = ("sn", "pdz") if i % 2 == 0 else ("pdz", "sn")
            for who in order:
                for c in configs:
                    if who == "sn":
                        ans, took = sn[c].run(sql_for("public.people", lo, hi))
                    else:
                        ans, took, receipts[c] = pdzone_query(env, principal, sql_for("people", lo, hi), eps_for[c])
                    got[who, c].append(ans)
                    secs[who, c].append(took)
            if i in (0, 9) or (i + 1) % 25 == 0:
                print(f"  {i + 1}/{len(qs)} queries ({time.perf_counter() - t0:.0f} s)", flush=True)
        for c in configs:
            sn[c].close()
        if args.profile:
            profile_pdzone(env, principal, [(lo + 0.5, hi) for lo, hi in qs[:20]], eps_for[configs[-1]])
    raw.close()

    smallest = min(n for ex in exact for n, _ in ex.values())
    print()
    print("ε matching: SmartNoise runs with Privacy(epsilon=1.0 per mechanism, delta=1e-7); the ε its odometer")
    print("accounts per query (get_privacy_cost, the sum over the query's mechanisms) is the ε pdzone is asked for")
    print("and spends (checked on every receipt). Noise scales, SmartNoise's mechanisms | pdzone's receipt parts:")
    for c in configs:
        snm = ", ".join(f"{s:g}" for _, _, s in costs[c][0]["mechanisms"])
        pzm = ", ".join(f"{p['measure']} {p['noise_scale']:g}" for p in receipts[c]["budget"]["parts"])
        print(f"  {c:<12} ε {float(eps_for[c]):g} (SmartNoise δ {costs[c][0]['delta']:.1e}, pdzone δ 0): "
              f"SmartNoise [{snm}] | pdzone [{pzm}]")
    print()
    hdr = (f"{'config':<12}{'ε/query':>8}{'SN build s':>11}{'SN med ms':>10}{'pdz med ms':>11}"
           f"{'speed-up':>9}{'SN MRE':>10}{'pdz MRE':>10}{'pdz/SN MRE':>11}")
    print(hdr)
    print("-" * len(hdr))
    summary = {}
    for c in configs:
        sn_med, pdz_med = statistics.median(secs["sn", c]), statistics.median(secs["pdz", c])
        sn_err, pdz_err = rel_errors(exact, got["sn", c]), rel_errors(exact, got["pdz", c])
        summary[c] = (sn_med, pdz_med, sn_err, pdz_err)
        print(f"{c:<12}{float(eps_for[c]):>8g}{sn[c].info['build_s']:>11.2f}{sn_med * 1e3:>10.0f}"
              f"{pdz_med * 1e3:>11.1f}{sn_med / pdz_med:>8.1f}×"
              f"{sn_err['mre']:>10.2e}{pdz_err['mre']:>10.2e}{pdz_err['mre'] / sn_err['mre']:>11.2f}")
    print()
    print(f"{'config':<12}{'system':<12}{'MRE n':>10}{'MRE avg':>10}{'MRE all':>10}{'± s.e.':>10}"
          f"{'cells':>7}{'missing':>8}")
    for c, (_, _, sn_err, pdz_err) in summary.items():
        for who, e in (("SmartNoise", sn_err), ("pdzone", pdz_err)):
            print(f"{c:<12}{who:<12}{e['mre_n']:>10.2e}{e['mre_avg']:>10.2e}{e['mre']:>10.2e}{e['se']:>10.1e}"
                  f"{e['cells']:>7}{e['missing']:>8}")
    print()
    print(f"raw DuckDB GROUP BY (exact, unprotected): median {statistics.median(raw_t) * 1e3:.1f} ms; smallest exact "
          f"cell {smallest} rows; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"pdzone's first query (cold: it builds and seals the contribution-bounded copy): "
          f"{secs['pdz', configs[0]][0] * 1e3:.0f} ms; SN build = snsql.from_connection (frame → SQLite)")
    for c, (sn_med, pdz_med, sn_err, pdz_err) in summary.items():
        fast, acc = sn_med / pdz_med >= 10, pdz_err["mre"] <= sn_err["mre"]
        print(f"target [{c}]: ≥10× faster {'MET' if fast else 'MISSED'} ({sn_med / pdz_med:.1f}×); "
              f"MRE ≤ SmartNoise's {'MET' if acc else 'MISSED'} ({pdz_err['mre']:.3e} vs {sn_err['mre']:.3e})")


if __name__ == "__main__":
    main()
