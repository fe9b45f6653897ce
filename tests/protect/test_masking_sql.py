"""The in-engine operators (masking/sql.py) against plain Python references, on random inputs with the edge cases.

The SQL is tuned for speed (a length test before a regex, a shortcut for the usual address, a grouped count joined
back in place of a window), so each reference here spells the operator out the slow, obvious way, and hypothesis
looks for any input where the two differ.
"""

from __future__ import annotations

import math
import string
import unicodedata
from collections import Counter

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdzone.errors import Invalid
from pdzone.protect.masking import ColumnPolicy, mask_query, sql_expression

P = ColumnPolicy
CHECK = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def apply(policy: ColumnPolicy, values: list, type_: pa.DataType | None = None) -> list:
    """The policy applied to one column holding ``values``, through mask_query."""
    c = duckdb.connect()
    try:
        rel = c.from_arrow(pa.table({"v": pa.array(values, type=type_)}))
        return mask_query(c, rel, ["v"], {"v": policy}, pseudonymizer=None).column(0).to_pylist()
    finally:
        c.close()


# --- id_generalize -----------------------------------------------------------------------------------------------

DIGITS = "0123456789"


def reference_id_generalize(value: str | None, region_digits: int, keep_sex: bool) -> str | None:
    """GB 11643 shape: 18 characters (17 digits and a digit or X) or 15 digits, with a plausible month and day."""
    if value is None:
        return None
    if len(value) == 18 and all(ch in DIGITS for ch in value[:17]) and value[17] in DIGITS + "Xx" \
            and value[6:8] in ("18", "19", "20"):
        year, month_day, sex_digit = value[6:10], value[10:14], value[16]
    elif len(value) == 15 and all(ch in DIGITS for ch in value):
        year, month_day, sex_digit = "19" + value[6:8], value[8:12], value[14]
    else:
        return None
    if not ("01" <= month_day[:2] <= "12" and "01" <= month_day[2:] <= "31"):
        return None
    parts = [value[:region_digits] + "0" * (6 - region_digits)] if region_digits else []
    parts.append(year)
    if keep_sex:
        parts.append("男" if int(sex_digit) % 2 else "女")
    return "|".join(parts)


# Near misses: each position of a valid number, the length, the century, month and day.
ID_PIECES = ["110105", "1990", "1899", "2025", "1799", "2199", "0307", "1231", "0001", "0100", "1301", "0132",
             "0230", "3112", "123", "002", "X", "x", "Y", "0", "9", " ", "+", "-", "_", ".", "e", "１", "٣", "一"]


@st.composite
def id_like(draw) -> str:
    if draw(st.booleans()):  # a valid 18- or 15-digit number with one character possibly swapped
        born = draw(st.dates())
        body = f"{draw(st.integers(0, 999999)):06d}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
        number = body + draw(st.sampled_from(list(DIGITS + "Xx"))) if draw(st.booleans()) else body[:6] + body[8:]
        if draw(st.booleans()):
            at = draw(st.integers(0, len(number) - 1))
            number = number[:at] + draw(st.sampled_from(ID_PIECES))[:1] + number[at + 1:]
        return number
    return "".join(draw(st.lists(st.sampled_from(ID_PIECES), max_size=7)))


@CHECK
@given(values=st.lists(st.one_of(st.none(), id_like(), st.text(max_size=20)), max_size=12),
       region_digits=st.sampled_from([0, 2, 4, 6]), keep_sex=st.booleans())
def test_id_generalize_matches_its_reference(values, region_digits, keep_sex):
    policy = P(op="id_generalize", region_digits=region_digits, keep_sex=keep_sex)
    assert apply(policy, values, pa.string()) == [reference_id_generalize(v, region_digits, keep_sex)
                                                  for v in values]


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(0, 10**18 - 1), st.integers(-10**17, -1)), max_size=8))
def test_id_generalize_reads_numbers_as_their_text(values):
    expected = [reference_id_generalize(None if v is None else str(v), 6, True) for v in values]
    assert apply(P(op="id_generalize"), values, pa.int64()) == expected


# --- address_district --------------------------------------------------------------------------------------------

PROVINCES = ([(n, "市") for n in ("北京", "天津", "上海", "重庆")]
             + [(n, "省") for n in ("河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽", "福建", "江西",
                                    "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西",
                                    "甘肃", "青海", "台湾")]
             + [("内蒙古", "自治区"), ("广西", "壮族自治区"), ("西藏", "自治区"), ("宁夏", "回族自治区"),
                ("新疆", "维吾尔自治区"), ("香港", "特别行政区"), ("澳门", "特别行政区")])
# Characters that never belong to a place name: ASCII whitespace (RE2's \s: no \v), digits, letters and punctuation,
# their full-width forms, Chinese punctuation, street-level words, and the administrative suffixes themselves.
NOT_NAME = (set("\t\n\f\r ") | set(string.digits) | set(string.ascii_letters) | set(string.punctuation)
            | {chr(cp) for cp in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]}
            | set("，。、；：（）【】《》“”‘’·—－＃路街巷弄号楼栋幢室村镇乡小社校厂") | set("省市区县旗盟"))
COUNTY_EXCEPTIONS = ["路北区", "路南区", "路桥区", "镇海区", "镇原县", "镇安县", "镇雄县", "镇平县", "镇赉县", "镇坪县",
                     "镇巴县", "镇康县", "镇宁布依族苗族自治县", "镇沅彝族哈尼族拉祜族自治县", "乡宁县", "乡城县",
                     "市中区", "小店区", "社旗县"]


def _province(text: str, i: int) -> int | None:
    for name, suffix in PROVINCES:
        if text.startswith(name, i):
            end = i + len(name)
            return end + len(suffix) if text.startswith(suffix, end) else end
    return None


def _named(text: str, i: int, longest: int, suffixes: tuple[str, ...]) -> int | None:
    """The shortest run of 1..longest name characters followed by one of the suffixes."""
    for k in range(1, longest + 1):
        if i + k > len(text) or text[i + k - 1] in NOT_NAME:
            return None
        for suffix in suffixes:
            if text.startswith(suffix, i + k):
                return i + k + len(suffix)
    return None


def _county(text: str, i: int) -> int | None:
    for name in COUNTY_EXCEPTIONS:
        if text.startswith(name, i):
            return i + len(name)
    return _named(text, i, 14, ("区", "县", "旗", "市"))


def _lstrip_spaces(text: str) -> str:
    """DuckDB's ltrim: the Unicode space separators (Zs), not tabs or newlines."""
    i = 0
    while i < len(text) and unicodedata.category(text[i]) == "Zs":
        i += 1
    return text[i:]


def reference_address(value: str | None, granularity: str) -> str | None:
    """Leading part of the address down to province, prefecture or county, read left to right; None if none."""
    if value is None:
        return None
    i = len(value) - len(value.lstrip(" "))
    for country in ("中华人民共和国", "中国"):
        if value.startswith(country, i):
            i += len(country)
            break
    i += len(value[i:]) - len(value[i:].lstrip(" "))
    end = _province(value, i)
    if granularity == "province":
        if end is None:
            return None
    else:
        end = i if end is None else end
        end = _named(value, end, 9, ("自治州", "地区", "盟", "市")) or end
        if granularity == "district":
            end = _county(value, end) or end
    found = _lstrip_spaces(value[:end])
    for country in ("中华人民共和国", "中国"):
        if found.startswith(country):
            found = _lstrip_spaces(found[len(country):])
            break
    return found or None


ADDRESS_PIECES = ([n for n, _ in PROVINCES] + [n + s for n, s in PROVINCES] + COUNTY_EXCEPTIONS
                  + ["中国", "中华人民共和国", "中", " ", "  ", "\u3000", "\xa0", "\u2003", "\t", "\n", "\v",
                     "市", "区", "县", "旗", "盟", "省", "自治州", "地区", "自治", "地", "州", "朝阳", "恩施土家族苗族",
                     "锡林郭勒", "石柱土家族", "一二三四五六七八九", "十一十二十三十四十五", "浦东新", "南山", "东莞",
                     "路", "街道", "镇", "乡", "小区", "社区", "号", "楼", "1", "８", "A", "ｚ", "#", "＃", "·", "—",
                     "，", "(", "𠀀", "é", "_"])
address_like = st.lists(st.sampled_from(ADDRESS_PIECES), max_size=9).map("".join)


@CHECK
@given(values=st.lists(st.one_of(st.none(), address_like, st.text(max_size=12)), max_size=12),
       granularity=st.sampled_from(["district", "city", "province"]))
def test_address_district_matches_its_reference(values, granularity):
    got = apply(P(op="address_district", granularity=granularity), values, pa.string())
    assert got == [reference_address(v, granularity) for v in values]


def test_address_edge_cases():
    """Cases the random search might take long to find, checked against the reference and by value."""
    cases = [
        ("\u3000朝阳区", "district", "朝阳区"),  # a Unicode space is a name character to the regex; ltrim drops it
        ("\u3000中国北京市", "city", "北京市"),  # ... and the country prefix behind it is then cut too
        ("  中国  北京市海淀区", "district", "北京市海淀区"),
        ("中国中国市", "city", "中国市"),  # only one country prefix is cut
        ("中国路", "district", None),
        ("中华人民共和国", "province", None),
        ("一二三四五六七八九十市", "city", None),  # ten characters are too many for a prefecture's name ...
        ("一二三四五六七八九十市", "district", "一二三四五六七八九十市"),  # ... not for a county's
        ("北京市一二三四五六七八九十一二三四区", "district", "北京市一二三四五六七八九十一二三四区"),
        ("北京市一二三四五六七八九十一二三四五区", "district", "北京市"),
        ("北京市朝地区", "city", "北京市朝地区"),  # 地区 ends a prefecture
        ("", "district", None),
    ]
    for value, granularity, expected in cases:
        assert apply(P(op="address_district", granularity=granularity), [value]) == \
            [reference_address(value, granularity)] == [expected], (value, granularity)


# --- suppress ------------------------------------------------------------------------------------------------------

def reference_suppress(values: list, min_count: int) -> list:
    counts = Counter(v for v in values if v is not None)
    return [v if v is not None and counts[v] >= min_count else None for v in values]


@CHECK
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["朝阳区", "延庆区", "", " ", "a", "A", "朝阳区 "]),
                                 st.text(max_size=3)), max_size=40),
       min_count=st.integers(2, 6))
def test_suppress_matches_its_reference_row_by_row(values, min_count):
    c = duckdb.connect()
    try:
        rel = c.from_arrow(pa.table({"i": pa.array(range(len(values)), pa.int64()),
                                     "v": pa.array(values, pa.string())}))
        got = mask_query(c, rel, ["i", "v"], {"i": P(op="keep"), "v": P(op="suppress", min_count=min_count)},
                         pseudonymizer=None).to_pylist()
    finally:
        c.close()
    by_row = {row["i"]: row["v"] for row in got}  # rows may come back in any order, but stay whole
    assert len(got) == len(values)
    assert [by_row[i] for i in range(len(values))] == reference_suppress(values, min_count)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-3, 3)), max_size=30), min_count=st.integers(2, 4))
def test_suppress_keeps_the_column_type(values, min_count):
    assert sorted(apply(P(op="suppress", min_count=min_count), values, pa.int32()), key=repr) == \
        sorted(reference_suppress(values, min_count), key=repr)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, math.inf, -math.inf, math.nan])),
                       max_size=20), min_count=st.integers(2, 3))
def test_suppress_counts_floats_as_the_engine_compares_them(values, min_count):
    """NaN equals NaN and -0.0 equals 0.0, in the grouped count as in the window it replaced."""
    policy = P(op="suppress", min_count=min_count)
    c = duckdb.connect()
    try:
        c.register("t", pa.table({"i": pa.array(range(len(values)), pa.int64()),
                                  "v": pa.array(values, pa.float64())}))
        joined = sql_expression('"v"', policy, column_type="DOUBLE", source_sql='"t"')
        window = sql_expression('"v"', policy, column_type="DOUBLE")
        got = dict(c.sql(f"SELECT i, {joined} FROM t").fetchall())
        by_window = dict(c.sql(f"SELECT i, {window} FROM t").fetchall())
    finally:
        c.close()
    counts = Counter("nan" if math.isnan(v) else v for v in values if v is not None)
    expected = [v if v is not None and counts["nan" if math.isnan(v) else v] >= min_count else None for v in values]
    same = [str(got[i]) for i in range(len(values))]  # str: NaN compares unequal to itself
    assert same == [str(by_window[i]) for i in range(len(values))] == [str(v) for v in expected]


@pytest.mark.parametrize(("column_sql", "source_sql"), [('"t"."v"', '"t"'), ('"v"', "t"), ('"v"', '"t"; DROP'),
                                                        ('"v"', 't"."x')])
def test_the_source_of_a_grouped_count_must_be_quoted_and_the_column_bare(column_sql, source_sql):
    with pytest.raises(Invalid) as e:
        sql_expression(column_sql, P(op="suppress"), source_sql=source_sql)
    assert e.value.code == "invalid_identifier"



TYPED = {"VARCHAR": ("'朝阳区'", "'延庆区'"), "INTEGER": ("35", "97"), "BIGINT": ("13812345678", "7"),
         "DOUBLE": ("35.5", "-0.5"), "DECIMAL(10,2)": ("35.50", "1.25"),
         "DATE": ("DATE '1990-03-07'", "DATE '2000-01-01'"),
         "TIMESTAMP": ("TIMESTAMP '1990-03-07 12:00:00'", "TIMESTAMP '1990-03-07 12:00:01'"),
         "BOOLEAN": ("true", "false")}


@pytest.mark.parametrize("column_type", sorted(TYPED))
def test_suppress_through_mask_query_keeps_every_type(column_type):
    frequent, rare = TYPED[column_type]
    c = duckdb.connect()
    try:
        c.execute(f"CREATE TABLE t AS SELECT i, CAST(CASE WHEN i < 3 THEN {frequent} WHEN i = 3 THEN {rare} END "
                  f"AS {column_type}) AS x FROM range(6) r(i)")
        got = mask_query(c, "t", ["i", "x"], {"i": P(op="keep"), "x": P(op="suppress", min_count=3)},
                         pseudonymizer=None)
        raw = c.sql("SELECT i, x FROM t").to_arrow_table()
    finally:
        c.close()
    assert got.schema.field("x").type == raw.schema.field("x").type
    kept = raw.column("x").to_pylist()[0]
    assert dict(zip(got.column("i").to_pylist(), got.column("x").to_pylist(), strict=True)) == \
        {0: kept, 1: kept, 2: kept, 3: None, 4: None, 5: None}
