"""Analysis and rewrite overhead of a clean-room query: everything before the engine runs.

Target (issue): p50 <= 5 ms over a committed set of typical queries (bench/queries/typical.sql).
Measured per query: `service.prepare` (grant, granted schema, parse, qualify, resolve, lineage,
policy by level, ε split), `rewrite.build` and the transpile to the engine's dialect with the
allow-list checked again on the transpiled text; no engine, no data. In-run baseline: sqlglot
parsing and generating the same text alone. Also shown: `analysis.analyze` alone (the pure
analysis, without the store look-ups prepare does), and the store's share.

    python bench/cleanroom_analysis.py
    PDZONE_BENCH_DBS=sqlite PDZONE_BENCH_ROUNDS=10 python bench/cleanroom_analysis.py
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import sqlglot
from _cleanroom import Spec, build
from _common import kinds, runtime

from pdzone.audit.events import os_actor
from pdzone.cleanroom import rewrite, service
from pdzone.cleanroom.analysis import analyze
from pdzone.egress import grants as gr
from pdzone.egress import release
from pdzone.identity.models import Organization

QUERIES = Path(__file__).parent / "queries" / "typical.sql"
ROUNDS = int(os.environ.get("PDZONE_BENCH_ROUNDS", "30"))
DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区"]
KINDS = ["门诊", "住院", "药店"]
COLUMNS = {"人员编号": ("join_key", None, None), "区": ("dimension", None, DISTRICTS),
           "类别": ("dimension", None, None), "日期": ("dimension", None, None),
           "金额": ("measure", (0.0, 100.0), None), "年龄": ("measure", (0.0, 120.0), None)}


def load_queries(path: Path = QUERIES) -> list[tuple[str, str]]:
    """(scenario, sql) per statement (ended by `;` at a line's end); `-- scenario: rows` before a
    statement runs it under the grant that allows level-1 rows."""
    out, scenario, lines = [], "bench", []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("--"):
            if text.replace(" ", "") == "--scenario:rows":
                scenario = "rows"
            continue
        lines.append(line)
        if text.endswith(";"):
            out.append((scenario, "\n".join(lines).strip().rstrip(";")))
            scenario, lines = "bench", []
    return out


def table(n_people: int = 500, seed: int = 3) -> pa.Table:
    rng = random.Random(seed)
    cols = {c: [] for c in COLUMNS}
    for p in range(n_people):
        for _ in range(3):
            cols["人员编号"].append(f"P{p:06d}")
            cols["区"].append(DISTRICTS[p % 4])
            cols["类别"].append(rng.choice(KINDS))
            cols["日期"].append(dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(730)))
            cols["金额"].append(round(rng.uniform(0, 100), 2))
            cols["年龄"].append(20 + p % 60)
    return pa.table(cols)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def bench(kind: str, queries: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as d, runtime(kind) as rt:
        t = table()
        city = build(rt, Path(d), {n: Spec(t, lvl, "人员编号", COLUMNS, 3)
                                   for n, lvl in (("pay3", 3), ("visits3", 3), ("pay2", 2), ("pay1", 1))})
        with rt.store.transaction() as s:
            gr.do_add_scenario(s, zone_code="zone_b", code="rows", name="逐行", category="industry", actor=os_actor())
            gr.do_add_grant(s, partner=s.get(Organization, city.partner_id), dataset_names=["pay1"],
                            scenario_code="rows", epsilon=Decimal(1), forms=["aggregate", "rows"], actor=os_actor())
        env, principal = rt.cleanroom(), city.principal
        names = {}
        with rt.store.sessions() as s:
            for scenario, sql in queries:   # engine table names (they key data, not analysis: not timed)
                p = service.prepare(s, env.settings, principal, sql=sql, scenario=scenario)
                names[sql] = service._table_refs(s, env, p)[0::2]
            grants = {sc: gr.active_grant(s, org_id=principal.org_id, scenario_code=sc) for sc in ("bench", "rows")}
            granted = {sc: service.granted(s, g)[0] for sc, g in grants.items()}
        settings = env.settings

        def rewrite_and_transpile(plan, budget, sql: str) -> None:
            tnames, bounded = names[sql]
            agg = plan.kind == "aggregate"
            ex = rewrite.build(plan, tnames, dp=plan.level >= 3 and agg, bounded_single=bounded,
                               k_unit=plan.level == 2 and agg, candidates=budget.candidates if budget else None,
                               max_rows=plan.limit if plan.kind == "rows" else None)
            service._engine_sql(env, ex.tree)

        def full(scenario: str, sql: str) -> None:
            """What the brief names: service.prepare (with its store look-ups), rewrite, transpile, re-check."""
            with rt.store.sessions() as s:
                p = service.prepare(s, settings, principal, sql=sql, scenario=scenario)
            rewrite_and_transpile(p.plan, p.budget, sql)

        def pure(scenario: str, sql: str) -> None:
            """The same analysis and rewrite on the granted schema already in hand (no store)."""
            plan = analyze(sql, granted[scenario], default_limit=settings.cleanroom_max_rows)
            budget = None
            if plan.kind == "aggregate" and plan.level >= 2:
                budget = release.plan_budget(service.release_spec(plan), gr.choose_epsilon(grants[scenario], None),
                                             delta=settings.cleanroom_delta_per_query,
                                             min_group=settings.cleanroom_min_group_level4 if plan.level >= 4
                                             else settings.cleanroom_min_group_level3)
            rewrite_and_transpile(plan, budget, sql)

        def baseline(scenario: str, sql: str) -> None:
            sqlglot.parse_one(sql, read="duckdb").sql(dialect="duckdb")

        steps = {"full": full, "pure": pure, "base": baseline}
        for _ in range(3):
            for scenario, sql in queries:
                for f in steps.values():
                    f(scenario, sql)
        wall = {k: [] for k in steps}
        cpu = {k: [] for k in steps}
        per_query: dict[str, list[float]] = {sql: [] for _, sql in queries}
        load = os.getloadavg()[0]
        for _ in range(ROUNDS):
            for scenario, sql in queries:
                for k, f in steps.items():
                    c, t = time.thread_time(), time.perf_counter()
                    f(scenario, sql)
                    wall[k].append((time.perf_counter() - t) * 1000)
                    cpu[k].append((time.thread_time() - c) * 1000)
                per_query[sql].append(wall["full"][-1])
        n = len(wall["full"])
        print(f"\n{kind}: {len(queries)} typical queries x {ROUNDS} rounds ({n} samples each); "
              f"{os.cpu_count()} CPUs, load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
        print(f"{'':<62}{'wall p50':>9}{'p99':>8}{'CPU p50':>9}{'p99':>8}  (ms)")

        def line(label: str, k: str, extra: str = "") -> None:
            print(f"{label:<62}{pct(wall[k], .5):>9.2f}{pct(wall[k], .99):>8.2f}{pct(cpu[k], .5):>9.2f}"
                  f"{pct(cpu[k], .99):>8.2f}{extra}")

        def verdict(k: str) -> str:
            return f"  {'PASS' if pct(wall[k], .5) <= 5 else 'MISS'} (target p50 <= 5 ms)"

        line("service.prepare + rewrite + transpile + re-check", "full", verdict("full"))
        line("analysis + ε split + rewrite + transpile + re-check, no store", "pure", verdict("pure"))
        line("baseline: sqlglot parse + generate of the same text", "base")
        print(f"ratios at p50 (wall): with store {pct(wall['full'], .5) / pct(wall['base'], .5):.1f}x, "
              f"without {pct(wall['pure'], .5) / pct(wall['base'], .5):.1f}x the baseline; the store look-ups "
              f"(grant, filing, granted schema) {pct(wall['full'], .5) - pct(wall['pure'], .5):.2f} ms")
        slow = sorted(per_query.items(), key=lambda kv: -statistics.median(kv[1]))[:3]
        print("slowest (p50 ms): " + "; ".join(f"{statistics.median(v):.2f} {' '.join(q.split())[:60]}"
                                               for q, v in slow))


def main():
    queries = load_queries()
    assert len(queries) >= 20, len(queries)
    for kind in kinds():
        bench(kind, queries)
    print("\ntarget: analysis + rewrite overhead p50 <= 5 ms")


if __name__ == "__main__":
    main()
