"""The egress gate applies the release rules itself, by level: level-1 group keys masked like rows,
COUNT(expr) counting non-null values, δ capped per dataset across grants."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pyarrow as pa
import pytest

from pdzone.audit.events import os_actor
from pdzone.catalog import actions as cat
from pdzone.egress import grants as gr
from pdzone.errors import Conflict, Forbidden
from pdzone.identity.models import Organization
from tests.cleanroom.conftest import DISTRICTS, ask, import_table, people_table

SURNAMES = "张王李赵刘陈杨黄周吴"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
STREETS = ["建国路", "长安街", "中关村大街", "望京西路", "花园路"]


def residents(n: int = 1000, seed: int = 3) -> pa.Table:
    """A level-1 register: real-looking names, home addresses and birth dates (direct identifiers)."""
    rng = random.Random(seed)
    names, addrs, born, dist, amount = [], [], [], [], []
    for i in range(n):
        names.append(rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN))
        d = DISTRICTS[i % 4]
        addrs.append(f"北京市{d}{rng.choice(STREETS)}{rng.randint(1, 300)}号{rng.randint(1, 30)}单元")
        born.append(dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 20000)))
        dist.append(d)
        amount.append(round(rng.uniform(0, 100), 2))
    return pa.table({"证件": [f"R{i:06d}" for i in range(n)], "姓名": names, "住址": addrs, "出生日期": born,
                     "区": dist, "金额": amount})


@pytest.fixture
def register(sqlite_city, tmp_path):
    c = sqlite_city
    table = residents()
    import_table(c.rt, tmp_path, table, name="reg1", zone="zone_a", provider=c.provider_org, level=1, unit="证件",
                 columns={"证件": ("join_key", None, None), "姓名": ("dimension", None, None),
                          "住址": ("dimension", None, None), "出生日期": ("dimension", None, None),
                          "区": ("dimension", None, DISTRICTS), "金额": ("measure", (0.0, 100.0), None)})
    with c.rt.store.transaction() as s:
        gr.do_add_scenario(s, zone_code="zone_a", code="reg", name="登记", category="industry", actor=os_actor())
        gr.do_add_grant(s, partner=s.get(Organization, c.partner_id), dataset_names=["reg1"], scenario_code="reg",
                        epsilon=Decimal(1), forms=["aggregate", "rows"], actor=os_actor())
        ds = cat.find_dataset(s, "reg1")
        for col, policy in MASKS.items():
            cat.do_set_column(s, ds, col, mask_policy=policy, actor=os_actor(), basis="脱敏规则")
    return c, table


MASKS = {"姓名": {"op": "partial", "keep_first": 1}, "住址": {"op": "address_district"},
         "出生日期": {"op": "date_month"}}


def test_group_by_masked_columns_releases_only_masked_keys(register):
    """Masked rows showed 张* and a district, but GROUP BY the same columns returned the raw name, address
    and date: 1,000 of 1,000 rows re-identified in two queries. The groups are the masked values now."""
    c, table = register
    rows = ask(c, 'SELECT "姓名", "住址", "出生日期" FROM reg1', scenario="reg")["rows"]
    assert rows and all(r[0].endswith("*") for r in rows)
    r = ask(c, 'SELECT "姓名", "住址", "出生日期", COUNT(*) AS n, SUM("金额") AS s, AVG("金额") AS a FROM reg1 '
               'GROUP BY "姓名", "住址", "出生日期"', scenario="reg")
    raw = set(zip(table["姓名"].to_pylist(), table["住址"].to_pylist(),
                  [d.isoformat() for d in table["出生日期"].to_pylist()], strict=True))
    names = set(table["姓名"].to_pylist())
    addresses = set(table["住址"].to_pylist())
    released = r["rows"]
    reidentified = [g for g in released if tuple(g[:3]) in raw or g[0] in names or g[1] in addresses]
    assert reidentified == []                                       # 0 of 1,000
    assert all(g[0].endswith("*") and len(g[0]) == 3 for g in released)   # 张**
    assert {g[1] for g in released} <= {f"北京市{d}" for d in DISTRICTS} | set(DISTRICTS)
    assert all(len(g[2]) == 7 for g in released)                    # YYYY-MM
    # merged exactly: counts and sums add up to the whole table; each average is its merged sum / count
    assert sum(g[3] for g in released) == table.num_rows
    assert sum(g[4] for g in released) == pytest.approx(sum(table["金额"].to_pylist()))
    assert all(g[5] == pytest.approx(g[4] / g[3]) for g in released)
    assert len({tuple(g[:3]) for g in released}) == len(released)   # one group per masked key
    assert r["receipt"]["mechanism"] == "exact"


@pytest.mark.parametrize(("sql", "code"), [
    ("SELECT COUNT(*) AS n FROM reg1 WHERE \"姓名\" = '张伟伟'", "masked_column_in_where"),
    ("SELECT \"区\" FROM reg1 WHERE \"住址\" LIKE '%建国路1号%'", "masked_column_in_where"),
    ('SELECT SUBSTRING("姓名", 2, 2) AS g, COUNT(*) AS n FROM reg1 GROUP BY 1', "masked_column_expression"),
    ('SELECT "区", COUNT(DISTINCT "姓名") AS n FROM reg1 GROUP BY "区"', "masked_column_in_aggregate"),
    ('SELECT "姓名", COUNT(DISTINCT "区") AS n FROM reg1 GROUP BY "姓名"', "masked_group_not_exact"),
])
def test_masked_columns_cannot_be_used_as_raw_values(register, sql, code):
    """A filter on a masked column is a membership oracle on its raw values; an expression or aggregate of
    it computes on them; COUNT(DISTINCT) cannot merge groups whose masked keys coincide."""
    c, _ = register
    with pytest.raises(Forbidden) as e:
        ask(c, sql, scenario="reg")
    assert e.value.code == code


@pytest.mark.parametrize("level", [3, 4])
def test_count_of_an_expression_counts_non_null_values(sqlite_city, level):
    """COUNT(expr) returned the noisy COUNT(*) (2026 against a true 74); it counts non-null values."""
    c = sqlite_city
    t = people_table().to_pydict()
    true = sum(1 for a in t["金额"] if a > 95)            # about 60 of 1,200 rows
    sql = f'SELECT COUNT(*) AS n, COUNT(CASE WHEN "金额" > 95 THEN 1 END) AS big FROM pay{level}'
    if level == 4:
        with c.rt.store.sessions() as s:
            grant_id = gr.active_grant(s, org_id=c.partner_id, scenario_code="research").id
        from pdzone.cleanroom import service
        service.preapprove(c.env(), c.secadmin, c.secadmin.actor(), grant_id, sql)
    r = ask(c, sql, epsilon="4")
    (n, big), = r["rows"]
    parts = {p["output"]: p for p in r["receipt"]["budget"]["parts"]}
    assert set(parts) == {"n", "big"}                       # each its own measure
    assert abs(big - true) < 10 * parts["big"]["noise_scale"] + 1
    assert abs(n - 1200) < 10 * parts["n"]["noise_scale"] + 1 and n - big > 800


def test_count_of_an_expression_at_level_1_is_exact(register):
    c, table = register
    r = ask(c, 'SELECT COUNT(*) AS n, COUNT(CASE WHEN "金额" > 95 THEN 1 END) AS big FROM reg1', scenario="reg")
    assert r["rows"] == [[1000, sum(1 for a in table["金额"].to_pylist() if a > 95)]]


def _second_grant(c, code: str, datasets: list[str]) -> None:
    with c.rt.store.transaction() as s:
        gr.do_add_scenario(s, zone_code="zone_a", code=code, name=code, category="industry", actor=os_actor())
        gr.do_add_grant(s, partner=s.get(Organization, c.partner_id), dataset_names=datasets, scenario_code=code,
                        epsilon=Decimal(10), default_epsilon=Decimal("0.2"), actor=os_actor())


def _selection_delta(c, sql: str, scenario: str = "research") -> float:
    from pdzone.cleanroom import service

    d = service.dry_run(c.env(), c.analyst, sql=sql, scenario=scenario, epsilon="0.2")
    return d["budget"]["partition_selection"]["delta"]


def test_delta_is_capped_per_dataset_across_grants(city):
    """ε was shared across grants through the dataset account, but each new grant brought a fresh δ."""
    c = city
    sql = 'SELECT "类别", COUNT(*) AS n FROM pay3 WHERE "年龄" > {} GROUP BY "类别"'   # keys not public: δ
    d = _selection_delta(c, sql.format(1))
    assert 0 < d <= c.rt.settings.cleanroom_delta_per_query
    with c.rt.store.transaction() as s:
        gr.do_set_cap(s, cat.find_dataset(s, "pay3"), Decimal(10), delta=1.5 * d, actor=os_actor())
    _second_grant(c, "second", ["pay3"])
    first = ask(c, sql.format(1), epsilon="0.2")
    assert first["receipt"]["delta_spent"] == pytest.approx(d, rel=1e-6)
    with pytest.raises(Conflict) as e:   # the second grant's own δ is untouched, the dataset's is spent
        ask(c, sql.format(2), scenario="second", epsilon="0.2")
    assert e.value.code == "budget_exhausted" and e.value.details["budget"] == "pay3"
    with c.rt.store.sessions() as s:
        view = gr.budget_view(s, gr.active_grant(s, org_id=c.partner_id, scenario_code="second"))
    assert view["delta_spent"] == 0 and view["epsilon_spent"] == "0"
    acct = next(a for a in view["dataset_budgets"] if a["dataset"] == "pay3")
    assert acct["delta_spent"] == pytest.approx(d, rel=1e-6) and acct["delta_cap"] == pytest.approx(1.5 * d)
    # a query without partition selection spends no δ and still runs (ε is left)
    assert ask(c, 'SELECT "区", COUNT(*) AS n FROM pay3 GROUP BY "区"', scenario="second",
               epsilon="0.2")["receipt"]["delta_spent"] == 0


THREADS = 16


def test_concurrent_delta_charges_never_pass_the_dataset_cap(tmp_path, db_url):
    """16 distinct partition-selection queries at once, from two grants, against a dataset δ for 5."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from pdzone.cleanroom import service
    from pdzone.egress.models import DatasetBudget
    from tests.cleanroom.conftest import build_city
    from tests.conftest import make_runtime

    rt = make_runtime(tmp_path, db_url)
    try:
        c = build_city(rt, tmp_path, table=people_table(n_people=200), epsilon="50", default_epsilon="0.2")
        sql = 'SELECT "类别", COUNT(*) AS n FROM pay3 WHERE "年龄" >= {} GROUP BY "类别"'
        d = _selection_delta(c, sql.format(0))
        with rt.store.transaction() as s:
            gr.do_set_cap(s, cat.find_dataset(s, "pay3"), Decimal(50), delta=5.5 * d, actor=os_actor())
        _second_grant(c, "second", ["pay3"])
        env = c.env()
        start = threading.Barrier(THREADS)

        def one(i: int) -> str:
            start.wait(timeout=60)
            try:
                service.run(env, c.analyst, c.analyst.actor(), sql=sql.format(20 + i), epsilon="0.2",
                            scenario="research" if i % 2 else "second")
            except Conflict as e:
                assert e.code == "budget_exhausted", e.code
                return "refused"
            return "answered"

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            outcomes = list(pool.map(one, range(THREADS)))
        assert outcomes.count("answered") == 5 and outcomes.count("refused") == THREADS - 5
        with rt.store.sessions() as s:
            acct = s.get(DatasetBudget, (c.partner_id, cat.find_dataset(s, "pay3").id))
            assert acct.delta_spent == 5 * gr.to_femto(d) <= acct.delta_cap
    finally:
        rt.store.dispose()


def test_level_1_minimum_group_is_judged_after_masked_groups_merge():
    """Groups whose masked keys coincide merge first; only then are groups of fewer rows withheld."""
    import pyarrow as pa

    from pdzone.egress import release as rel
    spec = rel.ReleaseSpec(kind="aggregate", level=1, tables={"t": 1},
                           outputs=(rel.OutputSpec(name="k", kind="group", group_index=0),
                                    rel.OutputSpec(name="n", kind="count", star=True)),
                           group_columns=(None,))
    # after masking: "A" appears twice (3 + 2 rows), "B" once (4 rows), "C" once (5 rows)
    table = pa.table({"_g0": ["A", "A", "B", "C"], "_n": [3, 2, 4, 5]})
    c = rel.Computed(spec, table, ["_g0"], {1: {"count": "_n"}}, None)
    assert sorted(rel.exact_rows(c, table, k=None, min_rows=5)) == [["A", 5], ["C", 5]]
    assert sorted(rel.exact_rows(c, table, k=None)) == [["A", 5], ["B", 4], ["C", 5]]
    total = rel.ReleaseSpec(kind="aggregate", level=1, tables={"t": 1},
                            outputs=(rel.OutputSpec(name="n", kind="count", star=True),))
    whole = rel.Computed(total, pa.table({"_n": [2]}), [], {0: {"count": "_n"}}, None)
    assert len(rel.exact_rows(whole, whole.table, k=None, min_rows=5)) == 1   # no GROUP BY: nothing withheld
