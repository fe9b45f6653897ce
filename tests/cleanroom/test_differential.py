"""Differential: whether an accepted query succeeds, and the shape of its answer, never depend on the rows.

Issue 8 (R-25): a query that failed only when some row passed its WHERE clause was a one-bit, noiseless
oracle (the exact values of a level-3 dataset were read out with it). Here, for every construct the
allow-list accepts (allow.py's tables: every node type and every argument it may carry, and every cast
target of the analysis), a query is run three times: with a WHERE that matches nothing, one that matches
every row, and one that matches only adversarial rows (±inf, NaN, ±1.8e308, 5e-324, the extreme BIGINTs,
38-digit decimals, empty, padded and malformed text, years 1, 9999 and 20000, NULLs everywhere), on
DuckDB, PostgreSQL and Spark. The three outcomes must be the same: refused alike (same status and
code), or answered alike with nothing withheld and the same columns (and the same number of rows where
that number is public: no GROUP BY, or public group keys under DP). A hypothesis generator adds random
accepted queries on top of the fixed cases.

The list of cases is checked against allow.py's tables: a construct added there without a case here
turns `test_every_allowed_construct_has_a_case` red.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from pdzone.audit.events import os_actor
from pdzone.catalog import actions as cat
from pdzone.cleanroom import allow, analysis, service
from pdzone.egress import grants as gr
from pdzone.errors import PdzoneError
from pdzone.identity.models import Organization
from tests.cleanroom.conftest import DISTRICTS, KINDS, ask, build_city, import_table
from tests.cleanroom.test_engines import (  # noqa: F401  (fixtures: the engines' prerequisites)
    ENGINES,
    _engine_options,
    pg_engine_url,
    spark_available,
)
from tests.conftest import make_runtime

ODD = "延庆区"   # the district of the adversarial rows only

# the three filters: nothing, everything, the adversarial rows only
FILTERS = ("\"区\" = '无此区'", '("区" IS NULL OR "区" IS NOT NULL)', f"\"区\" = '{ODD}'")

# -- the data ----------------------------------------------------------------------------------------

_EPOCH = dt.date(1970, 1, 1).toordinal()
BIG = 2**63 - 1


def _days(d: dt.date) -> int:
    return d.toordinal() - _EPOCH


def adversarial_table(*, far_dates: bool) -> pa.Table:
    """30 ordinary people in the public districts, then 12 adversarial rows in 延庆区."""
    rng = random.Random(8)
    rows = []
    for p in range(30):
        rows.append({"人员编号": f"D{p:04d}", "区": DISTRICTS[p % 4], "类别": KINDS[p % 3],
                     "金额": round(rng.uniform(0, 100), 2), "年龄": 20 + p, "数量": Decimal(p),
                     "日期": _days(dt.date(2020, 1, 1)) + p, "时刻": dt.datetime(2021, 5, 1, 8, p),
                     "标志": p % 2 == 0})
    amounts = [math.nan, math.inf, -math.inf, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -0.0, None,
               1e-300, 0.0, 99.5, None]
    ages = [BIG, -BIG - 1, None, 0, BIG, -1, BIG, 1, None, BIG, 3, -BIG - 1]
    texts = ["", " 12 ", "1e999", "abc", "2020-13-45", "20000-01-01", None, "\\", "%_", "９", "1" * 300, " -3.5e2 "]
    amounts_d = [Decimal(9 * 10**37), Decimal(-9 * 10**37), None, Decimal(0)] * 3
    # 20000-01-01 (past Python's dates): 10,000 years are 25 Gregorian cycles of 146,097 days
    far = _days(dt.date(9999, 12, 31)) + 1 + 25 * 146_097 if far_dates else _days(dt.date(9999, 12, 31))
    dates = [_days(dt.date(1, 1, 1)), _days(dt.date(9999, 12, 31)), None, far] * 3
    stamps = [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59), None] * 4
    flags = [True, False, None] * 4
    for i in range(12):
        rows.append({"人员编号": f"X{i:04d}", "区": ODD, "类别": texts[i], "金额": amounts[i], "年龄": ages[i],
                     "数量": amounts_d[i], "日期": dates[i], "时刻": stamps[i], "标志": flags[i]})
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    return pa.table({
        "人员编号": pa.array(cols["人员编号"], pa.string()), "区": pa.array(cols["区"], pa.string()),
        "类别": pa.array(cols["类别"], pa.string()), "金额": pa.array(cols["金额"], pa.float64()),
        "年龄": pa.array(cols["年龄"], pa.int64()), "数量": pa.array(cols["数量"], pa.decimal128(38, 0)),
        "日期": pa.array(cols["日期"], pa.int32()).cast(pa.date32()),
        "时刻": pa.array(cols["时刻"], pa.timestamp("us")), "标志": pa.array(cols["标志"], pa.bool_())})


ADV_COLUMNS = {"人员编号": ("join_key", None, None), "区": ("dimension", None, DISTRICTS),
               "类别": ("dimension", None, None), "金额": ("measure", (0.0, 100.0), None),
               "年龄": ("measure", (0.0, 120.0), None), "数量": ("measure", (0.0, 100.0), None),
               "日期": ("dimension", None, None), "时刻": ("dimension", None, None), "标志": ("dimension", None, None)}


@pytest.fixture(scope="module", params=ENGINES)
def dcity(request, tmp_path_factory):
    """A city per engine with adv1 (level 1) and adv3 (level 3) holding the adversarial table."""
    engine = request.param
    opts = _engine_options(request, engine)
    tmp = tmp_path_factory.mktemp(f"diff_{engine}")
    rt = make_runtime(tmp, f"sqlite:///{tmp}/pdzone.db", cleanroom_engine=engine, **opts)
    city = build_city(rt, tmp, epsilon="1000")
    table = adversarial_table(far_dates=engine != "spark")   # Spark's dates end at 9999
    for name, level in (("adv1", 1), ("adv3", 3)):
        import_table(rt, tmp, table, name=name, zone="zone_a", provider=city.provider_org, level=level,
                     unit="人员编号", columns=ADV_COLUMNS, contributions=1)
    with rt.store.transaction() as s:
        for n in ("adv1", "adv3"):
            gr.do_set_cap(s, cat.find_dataset(s, n), Decimal(1000), actor=os_actor())
        gr.do_add_scenario(s, zone_code="zone_a", code="diff", name="差分", category="public_interest",
                           actor=os_actor())
        gr.do_add_grant(s, partner=s.get(Organization, city.partner_id), dataset_names=["adv1", "adv3"],
                        scenario_code="diff", epsilon=Decimal(1000), default_epsilon=Decimal("0.01"),
                        max_epsilon=Decimal(5), actor=os_actor())
        gr.do_add_scenario(s, zone_code="zone_a", code="diffrows", name="差分逐行", category="industry",
                           actor=os_actor())
        gr.do_add_grant(s, partner=s.get(Organization, city.partner_id), dataset_names=["adv1"],
                        scenario_code="diffrows", epsilon=Decimal(1), forms=["aggregate", "rows"], actor=os_actor())
        tables, _ = service.granted(s, gr.active_grant(s, org_id=city.partner_id, scenario_code="diff"))
    city.tables = tables
    yield city
    rt.store.dispose()


# -- outcomes ----------------------------------------------------------------------------------------

def outcome(city, sql: str) -> tuple:
    """What the analyst sees, minus the values: refused (status, code), or answered (columns, whether
    values were withheld, and the number of rows where that number is a public parameter)."""
    try:
        plan = analysis.analyze(sql, city.tables)
    except PdzoneError as e:
        plan = None
        code = (e.status, e.code)
    try:
        r = ask(city, sql, scenario="diffrows" if plan is not None and plan.kind == "rows" else "diff",
                epsilon="0.01" if "adv3" in sql else None)
    except PdzoneError as e:
        assert plan is None, f"accepted by the analysis, refused when run: {e.code}"
        assert (e.status, e.code) == code
        return ("refused", e.status, e.code)
    json.dumps(r, allow_nan=False)      # every released value is finite (or null)
    public = plan.kind == "aggregate" and (
        not plan.group_by or (plan.level >= 3 and all(v is not None for v in plan.group_public)))
    return ("answered", tuple(r["columns"]), bool(r["receipt"].get("withheld")),
            len(r["rows"]) if public else None)


def differential(city, template: str, *, qualify: str | None = None) -> tuple:
    outs = []
    for f in FILTERS:
        if qualify:
            f = f.replace('"区"', f'{qualify}."区"')
        outs.append(outcome(city, template.format(f=f)))
    assert outs[0] == outs[1] == outs[2], f"the answer depends on which rows match:\n{template}\n{outs}"
    assert not (outs[0][0] == "answered" and outs[0][2]), f"withheld (the engine failed): {template}"
    return outs[0]


# -- the cases ---------------------------------------------------------------------------------------

def _pred_case(p: str, t: str = "adv1") -> str:
    return (f"SELECT COUNT(*) AS n, SUM(CASE WHEN {p} THEN 1 ELSE 0 END) AS k FROM {t} "
            f"WHERE {{f}} AND (({p}) IS NULL OR ({p}) OR NOT ({p}))")


def _num_case(x: str) -> str:
    return (f"SELECT COUNT(*) AS n, SUM({x}) AS s, AVG({x}) AS a, COUNT({x}) AS c FROM adv1 "
            f"WHERE {{f}} AND ({x} > 0 OR {x} <= 0 OR {x} IS NULL)")


def _text_case(x: str) -> str:
    return (f"SELECT COUNT(*) AS n, COUNT(DISTINCT {x}) AS d FROM adv1 "
            f"WHERE {{f}} AND ({x} = 'a' OR {x} <> 'a' OR {x} IS NULL)")


def _group_case(x: str, t: str = "adv1") -> str:
    return f"SELECT {x} AS g, COUNT(*) AS n FROM {t} WHERE {{f}} GROUP BY 1"


PREDICATES = [
    '"金额" > 1', '"金额" >= 1e308', '"年龄" < 50', '"年龄" <= -9223372036854775808', '"区" <> \'东城区\'',
    "\"类别\" = 'abc'", "\"类别\" LIKE '%1%'", "\"类别\" ILIKE 'A_C'", '"金额" IS NULL', '"标志" IS TRUE',
    "\"类别\" IN ('', 'abc', '%_')", '"年龄" IN (1, 2, 9223372036854775807)', '"金额" BETWEEN -1e308 AND 1e308',
    'NOT "标志"', "\"标志\" = 'true'", '"标志" = TRUE', "\"日期\" > '2000-01-01'", "\"时刻\" <= '9999-12-30 00:00:00'",
    '"日期" = "时刻"', '"年龄"', '"金额"', '"数量" > 1', "\"年龄\" = '12'", "\"年龄\" = ' 1e3 '",
    # refused: whether refused or not is decided before any row is read, so it is the same for all filters
    "\"年龄\" = 'x'", '"类别" = 1', '"类别" LIKE "区"', "\"类别\" LIKE 'a\\'", "\"日期\" > '2000-02-30'",
    '"日期" > 1', '"标志" = 1', '"类别"', "LOWER(\"年龄\") = 'a'", '"年龄" LIKE \'1%\'',
]
NUMBERS = [
    '"金额" + "年龄"', '"金额" - 1e308', '"金额" * 1e308 * 10', '"年龄" * 9223372036854775807', '-"年龄"',
    '"金额" / ("年龄" - "年龄")', '1 / "金额"', '"金额" * 1e-300 * 1e-300', 'ABS("年龄")', 'ROUND("金额", 2)',
    'ROUND("金额" * 1e300, -300)', 'ROUND("年龄", 300)', 'FLOOR("金额")', 'CEIL("金额")', 'COALESCE("年龄", 0)',
    'COALESCE(NULL, "金额")', 'LENGTH("类别")', 'YEAR("日期")', 'MONTH("时刻")', 'DAY("日期")',
    'CASE WHEN "金额" > 1 THEN "金额" ELSE "年龄" END', 'CASE "年龄" WHEN 1 THEN 2 ELSE 3 END',
    'IF("标志", 1, 2)', '"数量" * "数量"', '"数量"', '(("年龄"))', '"年龄" * -9223372036854775807',
    '99999999999999999999999999999999999999', 'CASE WHEN "金额" > 1 THEN 99999999999999999999999999999999999999 END',
    'YEAR(DATE_TRUNC(\'quarter\', "日期"))',
    # refused
    'ROUND("金额", "年龄")', '"类别" + 1', '"日期" + 1', '1e400 * "金额"', 'ABS("类别")', 'YEAR("类别")',
    'SUM("金额")',
]
TEXTS = ['LOWER("类别")', 'UPPER("类别")', 'SUBSTRING("类别", 2, 3)', 'SUBSTRING("类别", 1)',
         'COALESCE("类别", \'无\')',
         'CASE WHEN "标志" THEN "类别" END', 'SUBSTRING("类别", 5000000000)', 'SUBSTRING("类别", 1, -1)',
         'SUBSTRING("类别", 0, 2)']
GROUPS = ['"日期"', '"时刻"', "DATE_TRUNC('month', \"日期\")", "DATE_TRUNC('week', \"时刻\")",
          "DATE_TRUNC('day', CAST(\"时刻\" AS DATE))", "DATE_TRUNC('millennium', \"日期\")",
          "DATE_TRUNC('x', CAST(\"时刻\" AS DATE))", '"标志"', '"类别"', 'LENGTH("类别")', 'ROUND("金额" / 10, 0)',
          "CAST(\"日期\" AS TIMESTAMP)", "CASE WHEN \"年龄\" > 40 THEN DATE '9999-12-31' ELSE DATE '0001-01-01' END",
          "CAST(CASE WHEN \"年龄\" > 40 THEN '20000-01-01' ELSE '2000-01-01' END AS DATE)", "DATE '20000-01-01'"]
STRUCTURE = [
    ("order-limit", 'SELECT "类别" AS c, COUNT(*) AS n FROM adv1 WHERE {f} GROUP BY "类别" ORDER BY n DESC, 1 '
                    'NULLS FIRST LIMIT 2', None),
    ("alias-join", 'SELECT COUNT(*) AS n, SUM(b."金额") AS s FROM adv1 AS a JOIN adv1 AS b '
                   'ON a."人员编号" = b."人员编号" WHERE {f}', "a"),
    ("rows", 'SELECT "人员编号", "区", "金额", "日期", "时刻" FROM adv1 WHERE {f} LIMIT 50', None),
    ("dp-grid", 'SELECT "区", COUNT(*) AS n, SUM("金额") AS s, AVG("年龄") AS a, COUNT("金额") AS c FROM adv3 '
                'WHERE {f} AND ("金额" > 1 OR "金额" IS NULL OR "年龄" < 0) GROUP BY "区"', None),
    ("dp-selection", 'SELECT "类别", COUNT(*) AS n, SUM("数量") AS s FROM adv3 WHERE {f} GROUP BY "类别"', None),
    ("dp-quantiles", 'SELECT MEDIAN("年龄") AS m, quantile("金额", 0.9) AS q, quantile_cont("金额", 0.25) AS p, '
                     'COUNT(*) AS n FROM adv3 WHERE {f}', None),
    ("dp-join", 'SELECT a."区", COUNT(*) AS n, SUM(b."金额") AS s FROM adv3 AS a JOIN adv3 AS b '
                'ON a."人员编号" = b."人员编号" WHERE {f} GROUP BY a."区"', "a"),
    ("dp-dates", 'SELECT "区", COUNT(*) AS n FROM adv3 WHERE {f} AND YEAR("日期") > 2000 '
                 "AND DATE_TRUNC('month', \"时刻\") > DATE '2000-01-01' GROUP BY \"区\"", None),
    ("dp-where-casts", "SELECT COUNT(*) AS n, AVG(\"金额\") AS a FROM adv3 WHERE {f} "
                       "AND (CAST(\"类别\" AS INTEGER) > 1 "
                       'OR CAST("金额" * 1e300 AS BIGINT) IS NULL OR CAST("数量" AS TINYINT) = 1)', None),
    ("try-cast", 'SELECT COUNT(TRY_CAST("类别" AS DOUBLE)) AS n FROM adv1 WHERE {f}', None),
    ("count-variants", 'SELECT COUNT(*) AS n, COUNT("类别") AS c, COUNT(DISTINCT "年龄") AS d FROM adv1 '
                       'WHERE {f}', None),
    ("nested-type", 'SELECT COUNT(CAST("金额" AS DOUBLE[])) AS n FROM adv1 WHERE {f}', None),
]

# every cast target the analysis knows, and the refused ones next to them
CAST_TARGETS = sorted({exp.DataType.build(t).sql("duckdb") for t in (
    *analysis._TEXT_TYPES, *analysis._INT_RANGES, *analysis._REAL_TYPES, *analysis._TIME_TYPES,
    exp.DataType.Type.BOOLEAN)} | {"UTINYINT", "HUGEINT", "DECIMAL(10, 2)"})
CAST_SOURCES = ['"类别"', '"金额"', '"年龄"', '"数量"', '"日期"', '"时刻"', '"标志"', "' 12 '", "'abc'",
                "'2020-01-01'", "'true'", "'2020-01-01 10:00:00'", "'10:00:00'", 'NULL']


def _cast_case(src: str, to: str) -> str:
    c = f"CAST({src} AS {to})"
    return f"SELECT COUNT(*) AS n, COUNT({c}) AS c FROM adv1 WHERE {{f}} AND ({c} IS NULL OR {c} IS NOT NULL)"


CASES: list[tuple[str, str, str | None]] = [
    *((f"pred:{p}", _pred_case(p), None) for p in PREDICATES),
    *((f"pred3:{p}", _pred_case(p, "adv3"), None) for p in PREDICATES[:12]),
    *((f"num:{x}", _num_case(x), None) for x in NUMBERS),
    *((f"text:{x}", _text_case(x), None) for x in TEXTS),
    *((f"group:{x}", _group_case(x), None) for x in GROUPS),
    *((f"group3:{x}", _group_case(x, "adv3"), None) for x in GROUPS[7:9]),
    *STRUCTURE,
]
CAST_CASES = [(f"cast:{src}->{to}", _cast_case(src, to)) for to in CAST_TARGETS for src in CAST_SOURCES]

# arguments allowed in allow.py that no SQL in the DuckDB dialect can set (sqlglot sets them for other
# dialects' spellings only); each would need its own case the day the parser learns to produce it
UNREACHABLE = {
    (exp.Div, "typed"): "set by sqlglot for dialects whose / is typed (not DuckDB's)",
    (exp.Div, "safe"): "set by sqlglot for dialects with a safe division (not DuckDB's)",
    (exp.Length, "binary"): "set for BYTE_LENGTH-like spellings of other dialects",
}


def _constructs(sql: str) -> set:
    seen = set()
    for node in sqlglot.parse_one(sql, read="duckdb").walk():
        seen.add((type(node), None))
        for k, v in node.args.items():
            if v not in (None, False, [], ""):
                seen.add((type(node), k))
    return seen


def test_every_allowed_construct_has_a_case():
    """Every node type of allow.py and every argument it may carry appears in some case below (the cast
    targets are taken from the analysis' own tables, each tried from every kind of source)."""
    seen: set = set()
    for _, template, _ in CASES:
        seen |= _constructs(template.format(f=FILTERS[1]))
    for _, template in CAST_CASES:
        seen |= _constructs(template.format(f=FILTERS[1]))
    missing = sorted(f"{t.__name__}.{a or '*'}" for t, args in allow.USER_NODES.items() for a in (None, *args)
                     if (t, a) not in seen and (t, a) not in UNREACHABLE)
    assert not missing, f"allowed constructs without a differential case: {missing}"


@pytest.mark.parametrize(("template", "qualify"), [pytest.param(t, q, id=i) for i, t, q in CASES])
def test_a_construct_answers_the_same_whichever_rows_match(dcity, template, qualify):
    differential(dcity, template, qualify=qualify)


def test_every_cast_target_answers_the_same_whichever_rows_match(dcity):
    accepted: dict[str, int] = {}
    for case_id, template in CAST_CASES:
        out = differential(dcity, template)
        to = case_id.split("->")[1]
        accepted[to] = accepted.get(to, 0) + (out[0] == "answered")
    refused_targets = {"UTINYINT", "HUGEINT"}
    assert all(accepted[t] > 0 for t in CAST_TARGETS if t not in refused_targets), str(sorted(accepted.items()))
    assert all(accepted[t] == 0 for t in refused_targets), accepted


def test_the_cases_are_mostly_accepted(dcity):
    """The differential is about answered queries: most cases must be accepted, or it proves little."""
    answered = sum(outcome(dcity, t.format(f=FILTERS[1]))[0] == "answered" for _, t, _ in CASES)
    assert answered >= 0.6 * len(CASES)


# -- random accepted queries -------------------------------------------------------------------------

_NUM_LEAVES = ['"金额"', '"年龄"', '"数量"', "1", "0", "-1", "1e308", "9223372036854775807", "0.5",
               'LENGTH("类别")', 'YEAR("日期")', 'MONTH("时刻")', "CAST(\"类别\" AS INTEGER)",
               "CAST(\"类别\" AS DOUBLE)"]
_TEXT_LEAVES = ['"类别"', '"区"', "''", "'abc'", "' 12 '", 'LOWER("类别")', 'SUBSTRING("类别", 2, 2)',
                "CAST(\"金额\" AS VARCHAR)", "CAST(\"日期\" AS VARCHAR)"]
_OPS = ["+", "-", "*", "/"]
_CMP = ["=", "<>", "<", "<=", ">", ">="]


def _queries():
    nums = st.deferred(lambda: st.one_of(
        st.sampled_from(_NUM_LEAVES),
        st.tuples(nums, st.sampled_from(_OPS), nums).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        nums.map(lambda x: f"ABS({x})"), nums.map(lambda x: f"ROUND({x}, 1)"), nums.map(lambda x: f"FLOOR({x})"),
        nums.map(lambda x: f"CAST({x} AS INTEGER)"), nums.map(lambda x: f"CAST({x} AS SMALLINT)"),
        nums.map(lambda x: f"COALESCE({x}, 0)"),
        st.tuples(preds, nums, nums).map(lambda t: f"CASE WHEN {t[0]} THEN {t[1]} ELSE {t[2]} END")))
    texts = st.deferred(lambda: st.one_of(
        st.sampled_from(_TEXT_LEAVES), texts.map(lambda x: f"UPPER({x})"),
        st.tuples(preds, texts, texts).map(lambda t: f"CASE WHEN {t[0]} THEN {t[1]} ELSE {t[2]} END")))
    preds = st.deferred(lambda: st.one_of(
        st.tuples(nums, st.sampled_from(_CMP), nums).map(" ".join),
        st.tuples(texts, st.sampled_from(_CMP), texts).map(" ".join),
        st.tuples(texts, st.sampled_from(["'%1%'", "'a_'", "''", "'%'"])).map(lambda t: f"{t[0]} LIKE {t[1]}"),
        nums.map(lambda x: f"{x} IS NULL"), texts.map(lambda x: f"{x} IN ('', 'abc', '12')"),
        nums.map(lambda x: f"{x} BETWEEN -1 AND 1e300"), st.sampled_from(['"标志"', '"日期" > \'2001-01-01\'']),
        preds.map(lambda p: f"NOT ({p})"),
        st.tuples(preds, st.sampled_from(["AND", "OR"]), preds).map(lambda t: f"({t[0]} {t[1]} {t[2]})")))
    return st.tuples(nums, preds).map(lambda t: (
        f"SELECT COUNT(*) AS n, SUM({t[0]}) AS s, SUM(CASE WHEN {t[1]} THEN 1 ELSE 0 END) AS k FROM adv1 "
        f"WHERE {{f}} AND (({t[1]}) IS NULL OR ({t[1]}) OR NOT ({t[1]}))"))


def _budget(engine_id: str) -> int:
    return 10 if "spark" in engine_id else 40


def test_random_accepted_queries_answer_the_same_whichever_rows_match(dcity, request):
    examples = _budget(request.node.callspec.id)

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(_queries())
    def check(template):
        differential(dcity, template)

    check()
