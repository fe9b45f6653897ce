"""Masking and de-identification: column policies, the in-engine operators (DuckDB), keyed pseudonyms."""

from __future__ import annotations

import datetime as dt
import json
import math

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from pdzone.crypto import LocalKeyStore, get_suite
from pdzone.errors import Invalid, NotFound
from pdzone.identity.validators import mask_id_number, mask_mobile
from pdzone.protect.masking import (
    DEFAULTS,
    PARAMS,
    PII_TYPES,
    RAW_PASSING,
    ColumnPolicy,
    MaskOp,
    Pseudonymizer,
    check_policy,
    default_policies,
    default_policy,
    mask_query,
    pseudonym_key,
    quote_identifier,
    sql_expression,
)
from pdzone.protect.masking import pseudonym as pseudonym_module

P = ColumnPolicy
SUITES = ["gm", "intl"]
KEY = bytes(range(32))
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def apply(policy: ColumnPolicy, values: list, type_: pa.DataType | None = None, *, pseudonymizer=None) -> list:
    """The policy applied to one column holding ``values``, through mask_query on an Arrow-backed relation."""
    c = duckdb.connect()
    try:
        rel = c.from_arrow(pa.table({"v": pa.array(values, type=type_)}))
        return mask_query(c, rel, ["v"], {"v": policy}, pseudonymizer=pseudonymizer).column(0).to_pylist()
    finally:
        c.close()


def hmac_token(suite: str, key: bytes, value: str) -> str:
    return get_suite(suite).hmac(key, value.encode())[:16].hex()


# --- policies ---------------------------------------------------------------------------------------------------

EXAMPLES = [
    P(op="keep"), P(op="keep", released=True), P(op="partial", keep_first=3, keep_last=4),
    P(op="partial", keep_first=1, mask_char="●", mask_len=2), P(op="redact"), P(op="redact", replacement="已屏蔽"),
    P(op="pseudonym"), P(op="age_band", band_width=5, cap=90), P(op="date_month"), P(op="date_year"),
    P(op="address_district", granularity="city"), P(op="id_generalize", region_digits=4, keep_sex=False),
    P(op="top_code", cap=100), P(op="top_code", cap=99.5), P(op="bottom_code", floor=-3), P(op="suppress", min_count=3),
]


@pytest.mark.parametrize("policy", EXAMPLES, ids=lambda p: p.op.value)
def test_policies_round_trip_through_json_with_only_their_own_params(policy):
    stored = policy.model_dump_json()
    assert ColumnPolicy.model_validate_json(stored) == policy
    assert set(json.loads(stored)) <= {"op"} | PARAMS[policy.op]
    assert ColumnPolicy.model_validate(policy.model_dump()) == policy
    assert hash(ColumnPolicy.model_validate_json(stored)) == hash(policy)


@pytest.mark.parametrize("data", [
    {"op": "partial", "keep_first": -1},
    {"op": "partial", "keep_first": 33},
    {"op": "partial", "keep_first": True},
    {"op": "partial", "keep_first": "3"},
    {"op": "partial", "mask_char": "**"},
    {"op": "partial", "mask_char": "\n"},
    {"op": "partial", "cap": 5},
    {"op": "partial", "keep_fist": 1},
    {"op": "redact", "replacement": "a\x00b"},
    {"op": "top_code"},
    {"op": "top_code", "cap": math.nan},
    {"op": "top_code", "cap": math.inf},
    {"op": "top_code", "cap": 1e16},
    {"op": "top_code", "cap": "100; DROP TABLE t"},
    {"op": "bottom_code", "cap": 3},
    {"op": "age_band", "band_width": 1},
    {"op": "age_band", "cap": 85},
    {"op": "age_band", "cap": 90.0},
    {"op": "id_generalize", "region_digits": 3},
    {"op": "address_district", "granularity": "street"},
    {"op": "suppress", "min_count": 1},
    {"op": "keep", "released": "yes"},
    {"op": "shuffle"},
    {},
])
def test_bad_policies_are_refused_with_a_clear_domain_error(data):
    with pytest.raises(Invalid) as e:
        ColumnPolicy.model_validate(data)
    assert e.value.code == "invalid_mask_policy"
    assert e.value.zh.startswith("脱敏策略无效") and e.value.en.startswith("invalid masking policy")
    with pytest.raises(Invalid):
        ColumnPolicy.model_validate_json(json.dumps(data))


@FAST
@given(st.dictionaries(st.sampled_from(["op", "keep_first", "keep_last", "mask_char", "mask_len", "cap", "floor",
                                        "band_width", "region_digits", "min_count", "replacement", "granularity"]),
                       st.one_of(st.sampled_from([m.value for m in MaskOp]), st.integers(-5, 200), st.booleans(),
                                 st.floats(), st.text(max_size=3), st.none())))
def test_any_input_is_a_policy_or_invalid(data):
    try:
        policy = ColumnPolicy.model_validate(data)
    except Invalid as e:
        assert e.code == "invalid_mask_policy"
    else:
        assert ColumnPolicy.model_validate_json(policy.model_dump_json()) == policy


def test_policy_is_frozen():
    policy = P(op="partial", keep_first=1)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        policy.keep_first = 5  # type: ignore[misc]


# --- defaults per type and level -------------------------------------------------------------------------------

def test_defaults_follow_the_documented_table():
    assert default_policy("resident_id", 1) == P(op="id_generalize")
    assert default_policy("resident_id", 2).op is MaskOp.PSEUDONYM
    assert default_policy("person_name", 1) == P(op="partial", keep_first=1)
    assert default_policy("mobile", 1) == P(op="partial", keep_first=3, keep_last=4)
    assert default_policy("address", 1) == P(op="address_district")
    assert default_policy("address", 3) == P(op="address_district", granularity="city")
    assert default_policy("birth_date", 4) == P(op="date_year")
    assert default_policy(None, 1) == P(op="keep")
    assert default_policy(None, 2) == P(op="redact")
    assert default_policy("a_type_from_a_newer_detector", 1) == P(op="redact")  # fail closed


@pytest.mark.parametrize("level", [1, 2, 3, 4])
@pytest.mark.parametrize("pii", [*sorted(PII_TYPES), None])
def test_every_default_passes_its_own_check_and_keeps_nothing_raw_above_level_1(pii, level):
    policy = default_policy(pii, level)
    assert check_policy(policy, pii_type=pii, level=level) is policy
    if pii is not None:
        assert policy.op not in RAW_PASSING
    if level > 1:
        assert policy.op is not MaskOp.KEEP


def test_detector_types_are_all_covered():
    detect = pytest.importorskip("pdzone.protect.detect.pii")
    assert set(DEFAULTS) == {str(t) for t in detect.PiiType}
    assert set(DEFAULTS) == {"resident_id", "uscc", "mobile", "landline", "bank_card", "email", "plate", "passport",
                             "person_name", "address", "birth_date", "ip_address", "coordinates"}


@pytest.mark.parametrize("level", [0, 5, True, "1", None])
def test_levels_are_1_to_4(level):
    with pytest.raises(Invalid) as e:
        default_policy(None, level)
    assert e.value.code == "invalid_level"


@pytest.mark.parametrize("policy", [P(op="keep", released=True), P(op="suppress"), P(op="top_code", cap=40),
                                    P(op="bottom_code", floor=116)])
def test_operators_that_pass_raw_values_are_refused_on_pii(policy):
    with pytest.raises(Invalid, match="lets values out unchanged"):
        check_policy(policy, pii_type="coordinates", level=1)
    assert check_policy(policy, pii_type=None, level=1) is policy


def test_keep_is_refused_above_level_1_unless_released():
    with pytest.raises(Invalid, match="explicitly released"):
        check_policy(P(op="keep"), pii_type=None, level=2)
    assert check_policy(P(op="keep", released=True), pii_type=None, level=3).released
    assert check_policy(P(op="redact"), pii_type="mobile", level=4).op is MaskOp.REDACT


def test_dataset_policies_are_defaults_with_checked_edits():
    types = {"姓名": "person_name", "身份证号": "resident_id", "区县": None}
    got = default_policies(types, 2, overrides={"区县": P(op="keep", released=True)})
    assert got == {"姓名": P(op="redact"), "身份证号": P(op="pseudonym"), "区县": P(op="keep", released=True)}
    with pytest.raises(Invalid):
        default_policies(types, 2, overrides={"姓名": P(op="keep", released=True)})
    with pytest.raises(Invalid, match="unknown columns"):
        default_policies(types, 1, overrides={"姓 名": P(op="redact")})


# --- partial masks -----------------------------------------------------------------------------------------------

def test_partial_masks_on_chinese_examples():
    name = P(op="partial", keep_first=1)
    assert apply(name, ["张三", "欧阳娜娜", "张", "", None]) == ["张*", "欧***", "*", "", None]
    assert apply(P(op="partial", keep_first=1, mask_len=2), ["张三", "欧阳娜娜"]) == ["张**", "欧**"]
    assert apply(P(op="partial", keep_first=3, keep_last=4), ["13812345678"]) == [mask_mobile("13812345678")]
    assert apply(P(op="partial", keep_first=6, keep_last=4), ["11010519900307002X"]) == \
        [mask_id_number("11010519900307002X")] == ["110105********002X"]
    assert apply(P(op="partial", keep_last=4, mask_char="#"), ["6222021234567890123"]) == ["###############0123"]
    assert apply(P(op="partial", keep_first=2), ["京A12345"]) == ["京A*****"]


def test_partial_on_numbers_masks_their_text():
    assert apply(P(op="partial", keep_first=3, keep_last=2), [13812345678, None], pa.int64()) == ["138******78", None]


def reference_partial(value: str | None, m: int, n: int, char: str, fixed: int | None) -> str | None:
    if value is None:
        return None
    if value == "":
        return ""
    first = min(m, len(value) - 1)
    last = min(n, len(value) - 1 - first)
    return value[:first] + char * (fixed or len(value) - first - last) + (value[len(value) - last:] if last else "")


@FAST
@given(values=st.lists(st.one_of(st.none(), TEXT), max_size=8), m=st.integers(0, 5), n=st.integers(0, 5),
       char=st.sampled_from(["*", "●", "'", "x"]), fixed=st.one_of(st.none(), st.integers(1, 4)))
def test_partial_matches_its_definition(values, m, n, char, fixed):
    policy = P(op="partial", keep_first=m, keep_last=n, mask_char=char, mask_len=fixed)
    assert apply(policy, values, pa.string()) == [reference_partial(v, m, n, char, fixed) for v in values]


# --- redaction, coding, suppression ------------------------------------------------------------------------------

def test_redact_keeps_the_column_type_and_null():
    assert apply(P(op="redact"), [1, 2, None], pa.int32()) == [None, None, None]
    c = duckdb.connect()
    c.execute("CREATE TABLE t AS SELECT 42::INTEGER AS n")
    assert mask_query(c, "t", ["n"], {"n": P(op="redact")}, pseudonymizer=None).schema.field("n").type == pa.int32()
    assert apply(P(op="redact", replacement="已屏蔽"), ["张三", None]) == ["已屏蔽", None]


def test_top_and_bottom_coding_keep_integers_integers(con):
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (120, 3.5), (35, -10.0), (NULL, NULL)) v(age, x)")
    got = mask_query(con, "t", ["age", "x"], {"age": P(op="top_code", cap=90), "x": P(op="bottom_code", floor=0)},
                     pseudonymizer=None)
    assert got.column("age").to_pylist() == [90, 35, None]
    assert got.schema.field("age").type == pa.int32()
    assert got.column("x").to_pylist() == [3.5, 0.0, None]
    assert apply(P(op="top_code", cap=99.5), ["120", "35", "abc", None]) == [99.5, 35.0, None, None]


def test_suppress_hides_rare_values_counted_over_the_whole_relation(con):
    con.execute("CREATE TABLE t AS SELECT CASE WHEN i < 6 THEN '朝阳区' WHEN i < 8 THEN '延庆区' ELSE NULL END AS d, i "
                "FROM range(10) r(i) ORDER BY i")
    values = mask_query(con, "t", ["d"], {"d": P(op="suppress", min_count=3)}, pseudonymizer=None).column(0).to_pylist()
    assert values.count("朝阳区") == 6 and values.count(None) == 4  # the two 延庆区 and the two NULLs
    limited = mask_query(con, "t", ["d"], {"d": P(op="suppress", min_count=3)}, pseudonymizer=None, limit=2)
    assert len(limited) == 2 and "延庆区" not in limited.column("d").to_pylist()


# --- generalization ---------------------------------------------------------------------------------------------

def test_age_bands():
    ages = [35, 0, 39.9, 90, 97, -1, 151, None, math.nan, math.inf]
    assert apply(P(op="age_band", cap=90), ages, pa.float64()) == \
        ["30-39", "0-9", "30-39", "90+", "90+", None, None, None, None, None]
    assert apply(P(op="age_band", band_width=5), [37, 150], pa.int16()) == ["35-39", "150-154"]
    assert apply(P(op="age_band"), ["35", " 41", "三十", None]) == ["30-39", "40-49", None, None]


def test_dates_to_month_and_year():
    texts = ["1990-03-07", "19900307", "1990年3月7日", "1990/3/7", "2020-01-02 03:04:05", "1990-02-30", "昨天", None]
    assert apply(P(op="date_month"), texts) == ["1990-03"] * 4 + ["2020-01", None, None, None]
    assert apply(P(op="date_year"), texts) == [1990] * 4 + [2020, None, None, None]
    assert apply(P(op="date_year"), [dt.date(1990, 3, 7), None]) == [1990, None]
    assert apply(P(op="date_month"), [dt.datetime(1990, 3, 7, 23, 59), None]) == ["1990-03", None]
    assert apply(P(op="date_year"), [19900307], pa.int64()) == [1990]


ADDRESSES = {
    "北京市朝阳区建国路88号": ("北京市朝阳区", "北京市", "北京市"),
    "上海市浦东新区世纪大道100号": ("上海市浦东新区", "上海市", "上海市"),
    "广东省深圳市南山区科技园路1号": ("广东省深圳市南山区", "广东省深圳市", "广东省"),
    "中国浙江省杭州市西湖区文三路": ("浙江省杭州市西湖区", "浙江省杭州市", "浙江省"),
    "广东省东莞市南城街道莞太路": ("广东省东莞市", "广东省东莞市", "广东省"),
    "河北省保定市涿州市范阳路": ("河北省保定市涿州市", "河北省保定市", "河北省"),
    "湖北省恩施土家族苗族自治州恩施市舞阳大道":
        ("湖北省恩施土家族苗族自治州恩施市", "湖北省恩施土家族苗族自治州", "湖北省"),
    "内蒙古自治区锡林郭勒盟锡林浩特市": ("内蒙古自治区锡林郭勒盟锡林浩特市", "内蒙古自治区锡林郭勒盟", "内蒙古自治区"),
    "重庆市石柱土家族自治县南宾街道": ("重庆市石柱土家族自治县", "重庆市", "重庆市"),
    "黑龙江省哈尔滨市道里区中央大街": ("黑龙江省哈尔滨市道里区", "黑龙江省哈尔滨市", "黑龙江省"),
    "山东省济南市市中区经四路": ("山东省济南市市中区", "山东省济南市", "山东省"),
    "浙江省宁波市镇海区骆驼街道": ("浙江省宁波市镇海区", "浙江省宁波市", "浙江省"),
}


@pytest.mark.parametrize("granularity", ["district", "city", "province"])
def test_addresses_are_cut_to_district_city_or_province(granularity):
    i = ["district", "city", "province"].index(granularity)
    got = apply(P(op="address_district", granularity=granularity), [*ADDRESSES, None])
    assert got == [want[i] for want in ADDRESSES.values()] + [None]


def test_addresses_without_an_administrative_part_give_null_never_a_street():
    assert apply(P(op="address_district"), ["阳光小区3号楼", "望京社区", "朝阳门外大街", "某某花园5栋", ""]) == \
        [None] * 5


def test_id_numbers_generalize_to_region_birth_year_and_sex():
    numbers = ["110105199003071234", "11010519900307122X", "11010519900307122x", "110105900307123",
               "110105199013071234", "11010519900307123", "1101051990030712345", "ABCDEF199003071234", None]
    assert apply(P(op="id_generalize"), numbers) == \
        ["110105|1990|男", "110105|1990|女", "110105|1990|女", "110105|1990|男"] + [None] * 5
    assert apply(P(op="id_generalize", region_digits=4), ["110105199003071234"]) == ["110100|1990|男"]
    assert apply(P(op="id_generalize", region_digits=2, keep_sex=False), ["110105199003071234"]) == ["110000|1990"]
    assert apply(P(op="id_generalize", region_digits=0), ["110105199003071234"]) == ["1990|男"]


@FAST
@given(region=st.sampled_from(["110105", "310115", "440305", "652901"]),
       born=st.dates(dt.date(1900, 1, 1), dt.date(2025, 12, 31)), order=st.integers(0, 999))
def test_id_generalization_agrees_with_stdnum(region, born, order):
    body = f"{region}{born:%Y%m%d}{order:03d}"
    number = body + ric.calc_check_digit(body)
    sex = "男" if int(number[16]) % 2 else "女"
    assert apply(P(op="id_generalize"), [number]) == [f"{region}|{ric.get_birth_date(number).year}|{sex}"]


# --- pseudonyms ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suite", SUITES)
@FAST
@given(key=st.binary(min_size=16, max_size=200), data=st.binary(max_size=300))
def test_pseudonymizer_mac_is_the_suite_hmac(suite, key, data):
    assert Pseudonymizer(key, suite).mac(data) == get_suite(suite).hmac(key, data)


@pytest.mark.parametrize("suite", SUITES)
@FAST
@given(key=st.binary(min_size=16, max_size=100), values=st.lists(st.one_of(st.none(), st.text(max_size=30)),
                                                                 max_size=20))
def test_pseudonyms_are_the_truncated_suite_hmac_of_the_utf8_text(suite, key, values):
    values = [v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if v else v for v in values]
    got = Pseudonymizer(key, suite).pseudonym(values).to_pylist()
    assert got == [None if v is None else hmac_token(suite, key, v) for v in values]


def test_pseudonym_format_and_determinism():
    p = Pseudonymizer(KEY, "gm")
    first = p.pseudonym(["110105199003071234", None, "110105199003071234"]).to_pylist()
    assert first[0] == first[2] and first[1] is None
    assert len(first[0]) == 32 and all(ch in "0123456789abcdef" for ch in first[0])
    assert Pseudonymizer(KEY, "gm").token("110105199003071234") == first[0]
    assert Pseudonymizer(KEY, "intl").token("110105199003071234") != first[0]
    assert p.key_id == Pseudonymizer(KEY, "gm").key_id != Pseudonymizer(bytes(32), "gm").key_id


@pytest.mark.parametrize("distinct", [3, 7])  # 3 of 8 per batch: deduplicated throughout; 7: plain after one
def test_pseudonyms_of_arrow_inputs_batches_and_the_cache(monkeypatch, distinct):
    p = Pseudonymizer(KEY, "gm")
    want = [None if i % 5 == 0 else hmac_token("gm", KEY, str(i % distinct)) for i in range(50)]
    monkeypatch.setattr(pseudonym_module, "_BATCH", 8)
    monkeypatch.setattr(pseudonym_module, "_CACHE_LIMIT", 2)
    texts = [None if i % 5 == 0 else str(i % distinct) for i in range(50)]
    assert p.pseudonym(texts).to_pylist() == want
    assert p.pseudonym(pa.array([None if i % 5 == 0 else i % distinct for i in range(50)])).to_pylist() == want
    assert p.pseudonym(pa.chunked_array([texts[:20], texts[20:]])).to_pylist() == want
    assert p.pseudonym(pa.array(texts, pa.large_string()).dictionary_encode()).to_pylist() == want
    assert p.pseudonym(pa.array([b"\xff\x00"], pa.binary())).to_pylist() == [p.mac(b"\xff\x00")[:16].hex()]
    assert p.pseudonym([]).to_pylist() == [] and p.pseudonym([None, None]).to_pylist() == [None, None]
    with pytest.raises(Invalid):
        p.pseudonym(pa.array([1.5]))
    with pytest.raises(Invalid):
        p.pseudonym([1.5])


def test_short_keys_and_unknown_suites_are_refused():
    with pytest.raises(Invalid):
        Pseudonymizer(b"short", "gm")
    with pytest.raises(Invalid):
        Pseudonymizer(KEY, "md5")


@pytest.mark.parametrize("suite", SUITES)
def test_pseudonym_keys_separate_recipients_and_zones(tmp_path, suite):
    keystore_dir = tmp_path / "keystore"
    ks = LocalKeyStore(keystore_dir, b"test-passphrase", suite)
    a = Pseudonymizer(pseudonym_key(ks, zone="bj_transport", recipient="partner:1", suite=suite), suite)
    a2 = Pseudonymizer(pseudonym_key(ks, zone="bj_transport", recipient="partner:1", suite=suite), suite)
    b = Pseudonymizer(pseudonym_key(ks, zone="bj_transport", recipient="partner:2", suite=suite), suite)
    z = Pseudonymizer(pseudonym_key(ks, zone="bj_health", recipient="partner:1", suite=suite), suite)
    value = ["110105199003071234"]
    assert a.pseudonym(value) == a2.pseudonym(value)
    assert a.pseudonym(value) != b.pseudonym(value)
    assert a.pseudonym(value) != z.pseudonym(value)
    # the root is persisted: a new process with the same key store gives the same pseudonyms
    again = LocalKeyStore(keystore_dir, b"test-passphrase", suite)
    assert pseudonym_key(again, zone="bj_transport", recipient="partner:1", suite=suite) == \
        pseudonym_key(ks, zone="bj_transport", recipient="partner:1", suite=suite)
    # names are length-prefixed: moving a character between zone and recipient changes the key
    assert pseudonym_key(ks, zone="ab", recipient="c", suite=suite) != \
        pseudonym_key(ks, zone="a", recipient="bc", suite=suite)
    with pytest.raises(Invalid):
        pseudonym_key(ks, zone="bj_transport", recipient="", suite=suite)


# --- mask_query: one masked SELECT, fail closed, quoting ---------------------------------------------------------

PEOPLE = '户籍 "人口"'


@pytest.fixture
def people(con):
    table = quote_identifier(PEOPLE)
    con.execute(f'CREATE TABLE {table} ("姓名" VARCHAR, "身份证号" VARCHAR, "年龄" INTEGER, "手机号" VARCHAR, '
                '"用户编号" BIGINT)')
    con.execute(f"INSERT INTO {table} VALUES ('张三', '110105199003071234', 35, '13812345678', 7), "
                "('李四', '11010519851231202X', 97, '13987654321', 8), (NULL, NULL, NULL, NULL, NULL)")
    return con


POLICIES = {"姓名": P(op="partial", keep_first=1), "身份证号": P(op="pseudonym"), "年龄": P(op="age_band", cap=90),
            "手机号": P(op="partial", keep_first=3, keep_last=4), "用户编号": P(op="pseudonym")}


def test_mask_query_masks_every_column_in_one_select(people):
    p = Pseudonymizer(KEY, "gm")
    got = mask_query(people, '户籍 "人口"', list(POLICIES), POLICIES, pseudonymizer=p)
    assert got.column_names == list(POLICIES)
    assert got.to_pylist() == [
        {"姓名": "张*", "身份证号": hmac_token("gm", KEY, "110105199003071234"), "年龄": "30-39",
         "手机号": "138****5678", "用户编号": hmac_token("gm", KEY, "7")},
        {"姓名": "李*", "身份证号": hmac_token("gm", KEY, "11010519851231202X"), "年龄": "90+",
         "手机号": "139****4321", "用户编号": hmac_token("gm", KEY, "8")},
        dict.fromkeys(POLICIES),
    ]
    assert mask_query(people, '户籍 "人口"', list(POLICIES), POLICIES, pseudonymizer=p).equals(got)  # deterministic
    assert len(mask_query(people, '户籍 "人口"', ["姓名"], POLICIES, pseudonymizer=None, limit=1)) == 1


def test_a_column_without_a_policy_is_refused_never_passed_through(people):
    policies = {k: v for k, v in POLICIES.items() if k != "手机号"}
    with pytest.raises(Invalid) as e:
        mask_query(people, '户籍 "人口"', ["姓名", "手机号"], policies, pseudonymizer=Pseudonymizer(KEY))
    assert e.value.code == "mask_policy_missing" and e.value.details["columns"] == ["手机号"]
    assert "手机号" in e.value.zh


@pytest.mark.parametrize(("columns", "policies", "pseudonymizer", "code"), [
    (["身份证号"], POLICIES, None, "pseudonym_key_missing"),
    (["地址"], {"地址": P(op="redact")}, None, "unknown_column"),
    (["姓名", "姓名"], POLICIES, None, "invalid_columns"),
    ([], POLICIES, None, "invalid_columns"),
    ("姓名", POLICIES, None, "invalid_columns"),
    (["姓名"], {"姓名": {"op": "keep"}}, None, "invalid_mask_policy"),
])
def test_mask_query_refusals(people, columns, policies, pseudonymizer, code):
    with pytest.raises(Invalid) as e:
        mask_query(people, '户籍 "人口"', columns, policies, pseudonymizer=pseudonymizer)
    assert e.value.code == code


@pytest.mark.parametrize("limit", [-1, True, 1.5])
def test_bad_limits_are_refused(people, limit):
    with pytest.raises(Invalid):
        mask_query(people, '户籍 "人口"', ["姓名"], POLICIES, pseudonymizer=None, limit=limit)


def test_qualified_names_and_relations(con):
    con.execute('CREATE SCHEMA "专区"; CREATE TABLE "专区"."人口" AS SELECT \'张三\' AS "姓名"')
    assert mask_query(con, ("专区", "人口"), ["姓名"], POLICIES, pseudonymizer=None).column(0).to_pylist() == ["张*"]
    rel = con.sql("SELECT '王五' AS \"姓名\"")
    assert mask_query(con, rel, ["姓名"], POLICIES, pseudonymizer=None).column(0).to_pylist() == ["王*"]


HOSTILE = ['x"; DROP TABLE t; --', "姓名' OR '1'='1", 'a""b', "名 字", "SELECT", "*", "1", "\\", '"']


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_column_names_are_quoted(con, name):
    con.execute(f"CREATE TABLE t ({quote_identifier(name)} VARCHAR); INSERT INTO t VALUES ('张三')")
    got = mask_query(con, "t", [name], {name: P(op="partial", keep_first=1)}, pseudonymizer=None)
    assert got.column_names == [name] and got.column(0).to_pylist() == ["张*"]
    assert con.sql("SELECT count(*) FROM t").fetchall() == [(1,)]


@settings(max_examples=25, deadline=None)
@given(name=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=10))
def test_any_column_name_round_trips(name):
    c = duckdb.connect()
    try:
        c.execute(f"CREATE TABLE t ({quote_identifier(name)} VARCHAR); INSERT INTO t VALUES ('13812345678')")
        got = mask_query(c, "t", [name], {name: P(op="partial", keep_first=3, keep_last=4)}, pseudonymizer=None)
        assert got.column_names == [name] and got.column(0).to_pylist() == ["138****5678"]
    finally:
        c.close()


def test_hostile_params_are_literals(con):
    con.execute("CREATE TABLE t AS SELECT 'abc' AS v")
    got = mask_query(con, "t", ["v"], {"v": P(op="redact", replacement="x'); DROP TABLE t; --")}, pseudonymizer=None)
    assert got.column(0).to_pylist() == ["x'); DROP TABLE t; --"]
    assert mask_query(con, "t", ["v"], {"v": P(op="partial", mask_char="'")}, pseudonymizer=None) \
        .column(0).to_pylist() == ["'''"]
    assert con.sql("SELECT count(*) FROM t").fetchall() == [(1,)]


@pytest.mark.parametrize("ref", ["name", '"a" OR 1=1', '"a"; DROP TABLE t; --"', '"a', "", '"a"."b', "(SELECT 1)"])
def test_sql_expression_takes_only_quoted_identifiers(ref):
    with pytest.raises(Invalid) as e:
        sql_expression(ref, P(op="keep"))
    assert e.value.code == "invalid_identifier"


def test_sql_expression_shapes():
    assert sql_expression('"t"."姓名"', P(op="keep")) == '"t"."姓名"'
    assert sql_expression('"身份证号"', P(op="pseudonym")) is None


TYPED = {"VARCHAR": "'1990-03-07'", "INTEGER": "35", "BIGINT": "13812345678", "DOUBLE": "35.5",
         "DECIMAL(10,2)": "35.50", "DATE": "DATE '1990-03-07'", "TIMESTAMP": "TIMESTAMP '1990-03-07 12:00:00'",
         "BOOLEAN": "true"}


@pytest.mark.parametrize("column_type", sorted(TYPED))
def test_every_operator_runs_on_every_type_and_keeps_null_null(con, column_type):
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES (1, CAST({TYPED[column_type]} AS {column_type})), "
                f"(2, CAST(NULL AS {column_type}))) v(i, x)")
    for policy in EXAMPLES:
        expr = sql_expression('"x"', policy, column_type=column_type)
        if expr is None:
            continue
        for given_type in (column_type, None):  # typed, and the type-blind form
            expr = sql_expression('"x"', policy, column_type=given_type)
            rows = con.sql(f"SELECT i, {expr} FROM t ORDER BY i").fetchall()
            assert rows[1] == (2, None), (policy, given_type)


def test_a_missing_table_is_not_found(con):
    with pytest.raises(NotFound):
        mask_query(con, "no_such_table", ["x"], {"x": P(op="redact")}, pseudonymizer=None)
