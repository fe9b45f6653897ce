"""PII detection: SQL check digits against python-stdnum, detectors on valid values and near-misses, column
classification with Chinese column names, level suggestions."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric, uscc

from pdzone.errors import Invalid
from pdzone.protect.detect import (
    DEFAULT_RULES,
    DIRECT_IDENTIFIERS,
    ColumnFinding,
    LevelRule,
    PiiType,
    hints,
    relation_sql,
    rules_from_config,
    scan,
    suggest_level,
    values_sql,
)
from pdzone.protect.detect.sql import USCC_ALPHABET

T = PiiType
TODAY = dt.date(2025, 6, 1)
PROPS = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    yield c
    c.close()


def classify(con, values: list[str | None]) -> list[dict]:
    """Every detector's verdict per value, in one query."""
    src = "(SELECT unnest($vals) AS v, generate_subscripts($vals, 1) AS i)"
    cur = con.execute(f"SELECT * FROM ({values_sql(src, 'v', today=TODAY, keep=('i',))}) ORDER BY i",
                      {"vals": values})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# ---------------------------------------------------------------- references (python-stdnum)

def ref_ric(x: str) -> bool:
    """GB 11643 as the issue defines it: check digit and a real birth date in 1900..today; region ignored."""
    x = x.strip()
    if len(x) != 18 or not x[:17].isdigit() or x[17] not in "0123456789Xx":
        return False
    if ric.calc_check_digit(x.upper()) != x[17].upper():
        return False
    try:
        born = ric.get_birth_date(x)
    except Exception:  # stdnum raises its own InvalidComponent for impossible dates
        return False
    return dt.date(1900, 1, 1) <= born <= TODAY


def ref_card(x: str) -> bool:
    return 16 <= len(x) <= 19 and x.isdigit() and x[0] in "234569" and luhn.is_valid(x)


digits = st.text("0123456789", min_size=1, max_size=1)
birth_dates = st.dates(dt.date(1900, 1, 1), TODAY)


@st.composite
def id_numbers(draw) -> str:
    region = draw(st.text("0123456789", min_size=6, max_size=6))
    body = region + draw(birth_dates).strftime("%Y%m%d") + draw(st.text("0123456789", min_size=3, max_size=3))
    return body + ric.calc_check_digit(body + "0")


@st.composite
def usccs(draw) -> str:
    body = draw(st.text("0123456789", min_size=8, max_size=8)) + draw(st.text(USCC_ALPHABET, min_size=9, max_size=9))
    return body + uscc.calc_check_digit(body)


@st.composite
def cards(draw) -> str:
    length = draw(st.integers(16, 19))
    body = draw(st.sampled_from("234569")) + draw(st.text("0123456789", min_size=length - 2, max_size=length - 2))
    return body + luhn.calc_check_digit(body)


def mutations(valid: st.SearchStrategy[str], alphabet: str) -> st.SearchStrategy[str]:
    """A valid number with one character replaced."""
    return st.tuples(valid, st.integers(0, 18), st.sampled_from(alphabet)).map(
        lambda t: t[0][:t[1] % len(t[0])] + t[2] + t[0][t[1] % len(t[0]) + 1:])


# ---------------------------------------------------------------- check digits against stdnum

@PROPS
@given(st.lists(id_numbers(), min_size=1, max_size=40))
def test_valid_id_numbers_pass(con, numbers):
    assert [r["resident_id"] for r in classify(con, numbers)] == [True] * len(numbers)


@PROPS
@given(st.lists(mutations(id_numbers(), "0123456789Xx"), min_size=1, max_size=60))
def test_id_number_mutations_rejected_exactly_when_stdnum_rejects(con, numbers):
    assert [r["resident_id"] for r in classify(con, numbers)] == [ref_ric(x) for x in numbers]


@PROPS
@given(st.lists(st.text("0123456789", min_size=17, max_size=17), min_size=1, max_size=40))
def test_id_check_digit_is_stdnums_for_any_body(con, bodies):
    """Over arbitrary bodies (mostly impossible dates): valid exactly when stdnum's check digit and the date hold."""
    numbers = [b + ric.calc_check_digit(b + "0") for b in bodies] + [b + "X" for b in bodies]
    assert [r["resident_id"] for r in classify(con, numbers)] == [ref_ric(x) for x in numbers]


@PROPS
@given(st.lists(usccs(), min_size=1, max_size=40))
def test_valid_usccs_pass(con, codes):
    got = classify(con, codes)
    # An all-digit code that is also a valid ID number counts as the ID number (most specific first).
    assert [r["uscc"] for r in got] == [not ref_ric(c) for c in codes]


@PROPS
@given(st.lists(mutations(usccs(), USCC_ALPHABET + "IOSVZio0"), min_size=1, max_size=60))
def test_uscc_mutations_rejected_exactly_when_stdnum_rejects(con, codes):
    assert [r["uscc"] for r in classify(con, codes)] == [uscc.is_valid(c) and not ref_ric(c) for c in codes]


@PROPS
@given(st.lists(cards(), min_size=1, max_size=40))
def test_valid_cards_pass(con, numbers):
    assert [r["bank_card"] for r in classify(con, numbers)] == [not ref_ric(n) for n in numbers]


@PROPS
@given(st.lists(mutations(cards(), "0123456789"), min_size=1, max_size=60))
def test_card_mutations_rejected_exactly_when_stdnum_rejects(con, numbers):
    assert [r["bank_card"] for r in classify(con, numbers)] == [ref_card(n) and not ref_ric(n) for n in numbers]


# ---------------------------------------------------------------- each detector: valid values and near-misses

def _rid(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


VALID = {
    T.resident_id: ["11010519491231002X", _rid("11010520000229123"),
                    _rid("11010319800101001"),  # 崇文区, withdrawn in 2010: still a valid number
                    _rid("99999919800101001"),  # no such region: still a valid number
                    " 11010519491231002x "],
    T.uscc: ["91110000600037341L", "91 110000 600037341L"],
    T.mobile: ["13812345678", "+86 138 1234 5678", "199-1234-5678", "008613812345678"],
    T.landline: ["010-62345678", "(021)52345678", "0571-8765432", "+86-10-62345678", "0755-23456789-123"],
    T.bank_card: ["6222021234567890128"[:18] + luhn.calc_check_digit("622202123456789012"),
                  "4367 4209 1234 5674"[:18] + luhn.calc_check_digit("436742091234567"), "6225880212345673"],
    T.email: ["zhang.san@example.com", "li_si+tag@mail.example.cn"],
    T.plate: ["京A12345", "沪AD12345", "粤B·12345D", "川A-F1234", "京A1234学", "苏E 8G6H3"],
    T.passport: ["E12345678", "EA1234567", "G12345678", "P1234567"],
    T.person_name: ["张伟", "王秀英", "欧阳娜娜", "司马相如", "买买提·艾力"],
    T.address: ["北京市海淀区中关村大街27号", "浙江省杭州市西湖区文三路90号1幢", "建设路12号",
                "河北省石家庄市长安区某某村"],
    T.birth_date: ["1990-01-02", "1990/1/2", "1990.01.02", "1990年1月2日", "19900102", "1990-01-02 00:00:00"],
    T.ip_address: ["192.168.1.1", "8.8.8.8", "2001:db8::1", "fe80:0:0:0:202:b3ff:fe1e:8329", "::ffff:10.0.0.1"],
    T.coordinates: ["116.397128,39.916527", "39.9165, 116.3971", "POINT(116.397128 39.916527)", "(121.4737,31.2304)"],
}
NEAR_MISS = {
    T.resident_id: ["110105194912310021", _rid("11010519900230001"), _rid("11010520300101001"),
                    _rid("11010518991231001"), _rid("11010519000001001"), "202208191234567890",
                    "11010519491231002", "1101051949123100200"],
    T.uscc: ["91110000600037341A", "9111000060003734IL", "A1110000600037341L"],
    T.mobile: ["12345678901", "10086123456", "1381234567", "23812345678", "14012345678"],
    T.landline: ["010-12345678", "000-62345678", "62345678", "021-5234567"],
    T.bank_card: ["6222021234567890123"[:18] + str((int(luhn.calc_check_digit("622202123456789012")) + 1) % 10),
                  "1234567890123456", "622202123456789"],
    T.email: ["zhang at example.com", "user@localhost", "@example.com", "a@b"],
    T.plate: ["京A1234", "AB12345", "京A123456789", "甲A12345"],
    T.passport: ["E1234567", "X12345678", "E123456789"],
    T.person_name: ["北京市", "汉族", "高中", "有限公司", "张", "张三丰李四王五", "木工"],
    T.address: ["北京市某某科技有限公司", "上海市浦东新区人民医院", "云南省北镇市", "我们社区的环境很好，欢迎来玩。"],
    T.birth_date: ["1990-02-30", "1890-13-01", "2031-01-01", "1990-01-02 12:30:00", "19901301", "90-01-02"],
    T.ip_address: ["256.1.1.1", "1.2.3", "10.0.0.0.1", "12:30:45"],
    T.coordinates: ["123.45,67.89", "200.123456,95.123456", "1,2"],
}


def test_each_detector_accepts_valid_values(con):
    values = [v for vs in VALID.values() for v in vs]
    got = classify(con, values)
    rows = iter(got)
    for t, vs in VALID.items():
        for v in vs:
            assert next(rows)[t.value], f"{t.value} should accept {v!r}"


def test_each_detector_rejects_near_misses(con):
    values = [v for vs in NEAR_MISS.values() for v in vs]
    rows = iter(classify(con, values))
    for t, vs in NEAR_MISS.items():
        for v in vs:
            assert not next(rows)[t.value], f"{t.value} should reject {v!r}"


def test_value_type_is_the_most_specific_match_and_blanks_are_nothing(con):
    got = classify(con, ["11010519491231002X", "91110000600037341L", "13812345678", None, "", "  ", "无", "N/A"])
    assert [r["pii_type"] for r in got] == ["resident_id", "uscc", "mobile", None, None, None, None, None]
    assert [r["value"] for r in got[3:]] == [None] * 5


# ---------------------------------------------------------------- columns

def _ids(r: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        born = dt.date(1950, 1, 1) + dt.timedelta(days=r.randrange(20000))
        body = r.choice(["110105", "310104", "440305", "110103"]) + born.strftime("%Y%m%d") + f"{r.randrange(1000):03d}"
        out.append(body + ric.calc_check_digit(body + "0"))
    return out


PEOPLE = '"人员 ""信息"""'  # a table name with a space and quotes in it


@pytest.fixture(scope="module")
def people(con):
    r = random.Random(5)
    n = 300
    ids = _ids(r, n)
    names = [r.choice("王李张刘陈杨黄赵") + r.choice(["伟", "芳", "秀英", "建国", "娜", "静", "磊"]) for _ in range(n)]
    mobiles = [r.choice(["138", "159", "186", "177"]) + f"{r.randrange(10 ** 8):08d}" for _ in range(n)]
    orders = [str(r.randrange(10 ** 17, 10 ** 18)) for _ in range(n)]
    con.execute(f"""CREATE OR REPLACE TABLE {PEOPLE} (
        "身份证号" VARCHAR, "姓名" VARCHAR, "手机号" BIGINT, "住址" VARCHAR, "订单号" VARCHAR, "编号" VARCHAR,
        "出生日期" DATE, "交易日期" DATE, "备注" VARCHAR, "有效" BOOLEAN, "col_a" VARCHAR)""")
    rows = []
    for i in range(n):
        rows.append((
            ids[i] if i % 10 else None, names[i], int(mobiles[i]),
            f"北京市朝阳区建国路{i + 1}号{i % 20 + 1}栋{i % 5 + 1}单元{100 + i}室" if i % 7 else "不详",
            orders[i], ids[(i * 7) % n],
            dt.date(1940, 1, 1) + dt.timedelta(days=i * 97), TODAY - dt.timedelta(days=i % 90),
            "备注" if i % 2 else None, i % 2 == 0, str(i),
        ))
    con.executemany(f"INSERT INTO {PEOPLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return scan(con, PEOPLE, [
        ("身份证号", "公民身份号码"), ("姓名", None), ("手机号", None), ("住址", None), ("订单号", None),
        ("编号", "订单编号"), ("出生日期", None), ("交易日期", None), ("备注", None), ("有效", None), ("col_a", None),
    ], today=TODAY)


def test_columns_are_typed_by_their_values(people):
    by = {f.column: f for f in people}
    assert {c: f.pii_type for c, f in by.items()} == {
        "身份证号": T.resident_id, "姓名": T.person_name, "手机号": T.mobile, "住址": T.address, "订单号": None,
        "编号": T.resident_id, "出生日期": T.birth_date, "交易日期": None, "备注": None, "有效": None, "col_a": None,
    }
    rid = by["身份证号"]
    assert rid.match_rate == 1.0 and rid.scanned == 270 and rid.rows == 300 and not rid.sampled
    assert rid.confidence > 0.95
    codes = {e.code for e in rid.evidence}
    assert {"match_rate", "check_digit", "region_codes", "column_name"} <= codes
    region = next(e for e in rid.evidence if e.code == "region_codes")
    assert "since withdrawn" in region.en and "已撤销" in region.zh  # 110103 is kept, and said
    assert by["住址"].scanned == 300 - len(range(0, 300, 7))  # 不详 is no value


def test_names_raise_confidence_but_values_decide(people):
    by = {f.column: f for f in people}
    # ID numbers under a business-number name are still ID numbers, with less confidence than under 身份证号.
    assert by["编号"].pii_type == T.resident_id
    assert by["编号"].confidence < by["身份证号"].confidence
    assert any(e.code == "column_name_business" for e in by["编号"].evidence)
    # 18-digit order numbers are no ID numbers: a random body passes GB 11643 (and a real date) almost never.
    assert by["订单号"].pii_type is None and by["订单号"].rates.get("resident_id", 0) < 0.01
    # Event dates are dates, but not births: without a name that says so, they stay unclassified.
    assert by["交易日期"].pii_type is None and by["交易日期"].rates == {"birth_date": 1.0}
    assert "dates_not_births" in {e.code for e in by["交易日期"].evidence}
    assert "date_range" in {e.code for e in by["出生日期"].evidence}
    assert by["有效"].scanned == 0 and by["有效"].evidence[0].code == "type_skipped"


def test_a_misleading_name_does_not_make_a_type(con):
    r = random.Random(9)
    con.execute("CREATE OR REPLACE TABLE 订单 AS SELECT * FROM (VALUES (NULL::VARCHAR)) t(身份证号) LIMIT 0")
    con.executemany("INSERT INTO 订单 VALUES (?)", [(str(r.randrange(10 ** 17, 10 ** 18)),) for _ in range(200)])
    (f,) = scan(con, "订单", today=TODAY)
    assert f.pii_type is None and f.confidence < 0.2


def test_sampled_scan_reads_a_sample(con):
    r = random.Random(3)
    con.execute("CREATE OR REPLACE TABLE 大表 (手机 VARCHAR, 姓名 VARCHAR)")
    con.executemany("INSERT INTO 大表 VALUES (?, ?)",
                    [(f"13{r.randrange(10 ** 9):09d}", r.choice(["王", "李"]) + "明") for _ in range(6000)])
    sampled = scan(con, "大表", sample=1500, today=TODAY)
    assert all(f.sampled for f in sampled)
    assert 1000 < sampled[0].rows < 2000
    assert [f.pii_type for f in sampled] == [T.mobile, T.person_name]
    full = scan(con, "main.大表", sample=None, today=TODAY)
    assert [f.rows for f in full] == [6000, 6000] and not full[0].sampled
    con.execute("SELECT 1").fetchall()  # the connection is free again


def test_coordinates_in_separate_numeric_columns_need_their_names(con):
    con.execute("CREATE OR REPLACE TABLE 轨迹 AS SELECT 116 + i / 1000.0 + 0.000123 AS 经度, 39 + i / 997.0 + 0.000017"
                " AS 纬度, 0.5 + i / 1013.0 + 0.000011 AS ratio, NULL::VARCHAR AS 空列 FROM range(200) t(i)")
    got = {f.column: f for f in scan(con, "轨迹", today=TODAY)}
    assert got["经度"].pii_type == got["纬度"].pii_type == T.coordinates
    assert got["ratio"].pii_type is None  # the same shape without the name is just a number
    assert got["空列"].scanned == 0 and got["空列"].evidence[0].code == "empty"
    con.execute("CREATE OR REPLACE TABLE 空表 (身份证号 VARCHAR)")
    assert scan(con, "空表")[0].pii_type is None


def test_unknown_columns_and_relations_are_errors(con):
    con.execute("CREATE OR REPLACE TABLE t1 (a VARCHAR)")
    with pytest.raises(Invalid) as e:
        scan(con, "t1", [("b", None)])
    assert e.value.code == "unknown_column"
    with pytest.raises(Invalid) as e:
        scan(con, 'no_such"; DROP TABLE t1; --')
    assert e.value.code == "unknown_relation"
    assert con.execute("SELECT count(*) FROM t1").fetchall() == [(0,)]


def test_relation_names_are_quoted():
    assert relation_sql("人员") == '"人员"'
    assert relation_sql('main."人员 ""信息"""') == '"main"."人员 ""信息"""'
    assert relation_sql("my table") == '"my table"'
    assert relation_sql('x"; drop table y; --') == '"x""; drop table y; --"'


def test_hints_from_names_and_descriptions():
    assert hints("身份证号").types == {T.resident_id}
    assert hints("idCardNo").types == {T.resident_id}
    assert hints("sfzh").types == {T.resident_id}
    assert hints("name").types == {T.person_name}
    assert hints("product_name").types == frozenset()
    assert hints("hotel").types == frozenset()
    assert hints("电子邮件地址").types == {T.email}
    assert hints("col7", "联系人手机").types >= {T.mobile, T.person_name}
    assert hints("订单号").not_personal and not hints("订单号").types


# ---------------------------------------------------------------- level suggestions

def _f(column: str, t: PiiType | None, confidence: float = 0.9) -> ColumnFinding:
    return ColumnFinding(column, t, 1.0 if t else 0.0, confidence, [], 100)


def test_any_direct_identifier_suggests_at_least_3():
    for t in DIRECT_IDENTIFIERS:
        s = suggest_level([_f("c", t), _f("x", None)])
        assert s.level == 3 and not s.binding
        assert s.reasons and "c" in s.reasons[0].columns


def test_quasi_identifiers_together_suggest_2_and_nothing_suggests_1():
    assert suggest_level([_f("出生日期", T.birth_date)]).level == 1
    s = suggest_level([_f("出生日期", T.birth_date), _f("住址", T.address)])
    assert s.level == 2
    assert s.reasons[0].columns == ("住址", "出生日期") or set(s.reasons[0].columns) == {"住址", "出生日期"}
    assert "出生日期" in s.reasons[0].message("zh") and "birth date" in s.reasons[0].message("en")
    assert suggest_level([_f("经纬度", T.coordinates)]).level == 2
    assert suggest_level([_f("a", None), _f("b", T.uscc)]).level == 1
    assert suggest_level([]).reasons == []


def test_low_confidence_findings_do_not_count():
    assert suggest_level([_f("c", T.resident_id, confidence=0.4)]).level == 1
    assert suggest_level([_f("c", T.resident_id, confidence=0.4)], min_confidence=0.3).level == 3


def test_sensitive_reason_comes_first():
    s = suggest_level([_f("姓名", T.person_name), _f("身份证号", T.resident_id)])
    assert s.level == 3
    assert s.reasons[0].rule is DEFAULT_RULES[0] and s.reasons[0].columns == ("身份证号",)
    assert s.reasons[1].columns == ("姓名", "身份证号") or set(s.reasons[1].columns) == {"姓名", "身份证号"}


def test_rules_from_configuration():
    rules = rules_from_config([
        {"types": ["sensitive"], "min_level": 4, "reason_zh": "敏感", "reason_en": "sensitive"},
        {"types": ["birth_date", "address"], "min_level": 2, "min_types": 2, "reason_zh": "组合", "reason_en": "combo"},
    ])
    assert suggest_level([_f("a", T.bank_card)], rules).level == 4
    assert suggest_level([_f("a", T.mobile)], rules).level == 1
    assert suggest_level([_f("a", T.address), _f("b", T.birth_date)], rules).level == 2
    for bad in ([{"types": ["nope"], "min_level": 2, "reason_zh": "", "reason_en": ""}],
                [{"types": ["email"], "min_level": 5, "reason_zh": "", "reason_en": ""}],
                [{"types": ["email"], "reason_zh": "", "reason_en": ""}]):
        with pytest.raises(Invalid) as e:
            rules_from_config(bad)
        assert e.value.code == "invalid_level_rule"
    with pytest.raises(Invalid):
        LevelRule(frozenset({T.email}), 3, "", "", min_types=2)


def test_a_wide_table_is_scanned_in_bounded_statements(con, monkeypatch):
    """Each statement holds ~100 expressions per column: a wide table is scanned in statements of a bounded
    width (the 20,000-column import needed 21 GB in one), with every column's finding, in order."""
    from pdzone.protect.detect import scanner

    statements = []
    real = scanner._scan_stats
    monkeypatch.setattr(scanner, "_scan_stats", lambda c, rel, part, *a, **kw: statements.append(len(part))
                        or real(c, rel, part, *a, **kw))
    r = random.Random(5)
    cols = [f"c{i}" for i in range(150)]
    con.execute(f"CREATE OR REPLACE TABLE 宽表 ({', '.join(f'{c} VARCHAR' for c in cols)})")
    rows = [[f"13{r.randrange(10 ** 9):09d}" if j == 140 else "x" for j in range(150)] for _ in range(50)]
    con.executemany(f"INSERT INTO 宽表 VALUES ({', '.join('?' * 150)})", rows)
    found = scan(con, "宽表", today=TODAY)
    assert [f.column for f in found] == cols
    assert found[140].pii_type == T.mobile and all(f.pii_type is None for i, f in enumerate(found) if i != 140)
    assert max(statements) <= scanner.COLUMNS_PER_STATEMENT and sum(statements) == 150
