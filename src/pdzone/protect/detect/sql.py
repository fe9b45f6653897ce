"""Detectors as DuckDB SQL: patterns and check digits are computed by the engine, a vector at a time.

The work per value is a chain of stages (`stages`), each a projection over the previous one, so what
detectors share is computed once per value:

- ``v``: the value as text, trimmed, NULL for blanks and placeholders (``无``, ``-``, ``N/A`` ...);
- ``n``: ``strlen(v)``, its length in *bytes* (a Han character is 3), the cheapest test there is;
- ``d``: ``v`` without spaces and hyphens (``6222 0212 ...``, ``138-1234-5678``), ``dn`` its length;
- ``body``: ``d`` when it is 16-19 digits (the last may be X), the candidates for check-digit arithmetic;
- ``x17``: the 17-digit body of an ID-number candidate as BIGINT; ``rid``: GB 11643 holds;
- ``lo``/``hi``: a card-number candidate as two BIGINT blocks (9 digits and the rest), for Luhn;
- ``bd``: the DATE of a date-shaped value;
- ``f_<key>``: the detectors, one boolean per `KEYS` entry.

Every detector starts with a guard (`GUARDS`: length, first character) inside ``CASE``, so that regular
expressions and arithmetic run only on values that could match: ``CASE`` evaluates ``THEN`` only on the
rows whose ``WHEN`` holds (``AND`` in a projection would not spare the work). Check digits are integer
arithmetic on BIGINT digit blocks, not string loops.

`values_sql` gives the detectors per value (masking, tests, the quality benchmark); the scan aggregates them.
"""

from __future__ import annotations

import datetime as dt
import re

from .pii import PRIORITY, PiiType

# Values that mean "nothing here" (compared as given, in upper case, and as Null/None/NaN).
PLACEHOLDERS = ("-", "--", "—", "/", "\\", "?", "？", ".", "0", "无", "暂无", "不详", "未知", "空", "null", "none",
                "n/a", "na", "nan", "nil", "undefined")

# ~350 surnames that cover about 99 % of the population (2020 census ranking), plus compound surnames.
# Surnames that are mostly place words (区, 南, 国, 云 ...) are left out on purpose: they cost more
# precision on place and category columns than they add recall.
SINGLE_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩邓冯曹彭曾肖萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢"
    "姚沈钟姜崔谭陆范汪廖石金韦贾夏付傅方邹熊白孟秦邱侯江尹薛闫阎段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常"
    "汤康易乔赖文施洪辛柯庄樊牛葛邢安齐伍庞颜倪聂章鲁岳翟殷詹申耿关兰焦俞左柳甘祝包宁尚符舒阮柴纪梅童凌毕单季"
    "裴霍涂成苗谷盛曲翁冉骆蓝路游靳欧管柏丘屈饶时宫温卓蒲房鲍滕解边巫穆车宗艾景喻郎桂褚储连隋晏麦项商闵鞠尤米"
    "戚麻刁姬党贝邸仇卜司巩苟逯沙臧荣和佟衣吉池卫冀粟封慕郁华牟娄官容匡钮应习宿奚谈苑阳强查芦隆栾揭农植满敖从"
    "厉禹费窦雍蔺缪鄢佘杭楚阙惠明全丛练蒙郜虞冷寇岑占花言来简迟谌权蓬哈海尉上仲扈乐丰帅桑幸展木卞蹇訾"
    "祁古席瞿邬师甄邝荆胥班燕栗原劳皮冼阚仝朴廉屠祖狄漆支卿计索宣初芮晁戈伏邰"
)
COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "轩辕",
    "令狐", "钟离", "端木", "南宫", "西门", "百里", "呼延", "独孤", "万俟", "闻人", "澹台", "公冶", "宗政", "濮阳",
    "太叔", "申屠", "东郭", "拓跋", "第五", "梁丘", "左丘", "段干", "司空", "谷梁", "赫连", "单于", "公羊", "仲孙",
    "叔孙", "乐正", "漆雕", "巫马", "鲜于", "闾丘", "亓官", "司寇", "颛孙", "羊舌", "微生", "公良",
)

# GB 11643: weights 2^(18-i) mod 11; counted here from the right of the 17-digit body, k = 17 - i.
_RIC_WEIGHTS = tuple(pow(2, k + 1, 11) for k in range(17))
# GB 32100: weights 3^(i-1) mod 31 over an alphabet of 31 characters (no I, O, S, V, Z).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_CHAR = "[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]"

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_CHAR = "[A-HJ-NP-Z0-9]"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H16 = "[0-9A-Fa-f]{1,4}"

RE_RIC = r"\d{17}[\dXx]"
RE_DIGITS = r"\d{15,18}[\dXx]"  # ID numbers and card numbers: the candidates for check-digit arithmetic
RE_USCC = rf"\d{{8}}{_USCC_CHAR}{{10}}"
# Mobile number segments in use (13x, 145-149, 15x but 154, 162/165-167, 170-178, 18x, 19x but 194).
RE_MOBILE = r"(?:\+?86|0086)?1(?:3\d|4[5-9]|5[0-35-9]|6[25-7]|7[0-8]|8\d|9[0-35-9])\d{8}"
# Landlines need an area code: 010 and 02x take 8-digit numbers, 0xxx 7 or 8; +86 drops the trunk 0.
RE_LANDLINE = (
    r"(?:(?:\+|00)86[- ]?\(?(?:10|2\d)\)?|\(0(?:10|2\d)\)|0(?:10|2\d))[- ]?[2-9]\d{7}(?:(?:-|转|#|ext)\d{1,6})?"
    r"|(?:(?:\+|00)86[- ]?\(?[3-9]\d{2}\)?|\(0[3-9]\d{2}\)|0[3-9]\d{2})[- ]?[2-9]\d{6,7}(?:(?:-|转|#|ext)\d{1,6})?"
)
# Card numbers: 16-19 digits; 62 is UnionPay, 4/5/2/3 the international schemes, 9 old domestic cards.
RE_BANK_CARD = r"[2-69]\d{15,18}"
RE_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
# Province character, issuing-office letter, then 5 characters (last may be 挂学警港澳领试超) or, for new-energy
# plates, D/F + 5 (small cars) or 5 + D/F (large vehicles). Serials never use I or O.
RE_PLATE = (
    rf"[{_PROVINCES}][A-Z][·・.\- ]?"
    rf"(?:{_PLATE_CHAR}{{4}}(?:{_PLATE_CHAR}|[挂学警港澳领试超])|[DF]{_PLATE_CHAR}\d{{4}}|\d{{5}}[DF])"
)
# PRC passports: E + 8 digits, E + letter + 7 digits (since 2017), G + 8 (pre-2012), D/S/P (+E) + 7 digits.
RE_PASSPORT = r"E[A-HJ-NP-Z]\d{7}|[EG]\d{8}|[DSP]E?\d{7}"
RE_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
RE_IPV6 = (
    rf"{_H16}(?::{_H16}){{7}}"
    rf"|(?:{_H16}(?::{_H16}){{0,6}})?::(?:{_H16}(?::{_H16}){{0,6}})?"
    rf"|::(?:[Ff]{{4}}:)?{RE_IPV4}"
)
RE_NAME = (
    rf"(?:{'|'.join(COMPOUND_SURNAMES)})\p{{Han}}{{1,2}}|[{SINGLE_SURNAMES}]\p{{Han}}{{1,2}}"
    r"|\p{Han}{2,8}[·•・]\p{Han}{2,8}(?:[·•・]\p{Han}{2,8})?"  # transliterated names: 买买提·艾力
)
# Last characters no given name has: places, organisations, ethnic groups, titles.
RE_NAME_NOT = (
    r"[市省区县镇乡村路街巷号楼室族局厅处院厂店司部站馆校园场组队科员长师业工]$"
    # Common words that start with a surname character: schooling, ranks, colours, places.
    r"|^(?:高中|高级|高等|高新|高速|高校|初中|中专|金融|金额|黄金|白色|黄色|蓝色|方法|方案|方面|文化|文件|明天|明年|"
    r"全部|全国|安全|安徽|江苏|江西|武汉|成都|郑州|温州|常州|徐州|苏州|杭州|沈阳|洛阳|贵阳|岳阳|南阳|宁波|宁夏|海南|海口|"
    r"金华|桂林|柳州|梅州|贺州|林业|农业|商业|工业|管理|管理员|向上|向下|程序|程度|于是|余额|和平|常规|时间|周末|周一|"
    r"周二|周三|周四|周五|周六|周日|马上|任务|任何|许可|许多|高兴|关于|关系|包括|容易|严重|万元|夏季|秋季|冬季|春季)$"
)
RE_ADDRESS = (
    r"\p{Han}(?:路|街|大街|大道|道|巷|弄|胡同|里)\d+(?:号|弄|栋|幢)"  # 建设路 12 号
    # 浙江省杭州市西湖区…路 / …村 / …号: a division, then a street-level word that is not itself part of a
    # division's name (北镇市 is a city).
    r"|\p{Han}(?:省|自治区|市|区|县|旗|盟|州).*(?:路|街|大道|街道|道\d|巷|弄|胡同|村|镇|乡|屯|\d+组|号|栋|幢|座|室|单元"
    r"|小区|大厦|社区|花园|公寓|苑)(?:[^市区县州盟旗]|$)"
)
# Organisations (…人民医院, …区政府) and sentences are not addresses, even with place words in them.
RE_ADDRESS_NOT = (
    r"(?:公司|集团|医院|学校|大学|学院|中学|小学|幼儿园|银行|委员会|政府|法院|检察院|局|中心|协会|研究所|办事处|分行|支行)$"
    r"|[，。！？；,!?;]|[\p{Han}]\.$"
)
RE_DATE = (
    r"(?:18|19|20)\d{2}(?:-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2}|\.\d{1,2}\.\d{1,2}|年\d{1,2}月\d{1,2}日?)"
    r"(?: 00:00(?::00(?:\.0+)?)?)?"
    r"|(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
)
RE_COORD_PAIR = r"(?i:POINT)?\s*\(?\s*(-?\d{1,3}\.\d{3,})\s*[,，\s]\s*(-?\d{1,3}\.\d{3,})\s*\)?"
RE_COORD_PART = r"-?\d{1,3}\.\d{4,}"

# Columns the scan reports beside the 13 types.
COORDINATE_PART = "coordinate_part"  # one decimal degree (a 经度 or 纬度 column on its own)


def lit(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def _case(*guards_then: str) -> str:
    """Nested CASE: each guard is evaluated only on rows that passed the previous ones."""
    *guards, last = guards_then
    out = last
    for g in reversed(guards):
        out = f"CASE WHEN {g} THEN {out} ELSE false END"
    return out


def _digit(x: str, k: int) -> str:
    """The k-th decimal digit (from the right, k = 0 first) of the BIGINT expression x."""
    return f"(({x} // {10 ** k}) % 10)" if k else f"({x} % 10)"


def date_ok_sql(y: str, m: str, d: str, today: dt.date) -> str:
    """y-m-d is a real calendar date between 1900-01-01 and today (integer expressions in, boolean out)."""
    ymd = f"({y} * 10000 + {m} * 100 + {d})"
    leap = f"CASE WHEN ({y} % 4 = 0 AND {y} % 100 <> 0) OR {y} % 400 = 0 THEN 1 ELSE 0 END"
    days = f"CASE WHEN {m} = 2 THEN 28 + {leap} ELSE 30 + ({m} + {m} // 8) % 2 END"
    return (f"({ymd} BETWEEN 19000101 AND {today.year * 10000 + today.month * 100 + today.day}"
            f" AND {m} BETWEEN 1 AND 12 AND {d} BETWEEN 1 AND {days})")


def ric_sql(x17: str, last: str, today: dt.date) -> str:
    """GB 11643 on an ID-number candidate: `x17` its 17-digit body as BIGINT, `last` its check character.

    With weights W_i = 2^(18-i) mod 11 and X = 10, a number is valid when sum(a_i * W_i) = 1 (mod 11);
    the birth date (digits 7-14) must be a real date between 1900 and today. The region code is not checked.
    """
    total = " + ".join(f"{_digit(x17, k)} * {w}" for k, w in enumerate(_RIC_WEIGHTS))
    check = f"CASE WHEN {last} IN ('X', 'x') THEN 10 ELSE ascii({last}) - 48 END"
    born = date_ok_sql(f"({x17} // 10000000 % 10000)", f"({x17} // 100000 % 100)", f"({x17} // 1000 % 100)",
                       today)
    return f"(({total} + {check}) % 11 = 1 AND {born})"


def _uscc_value(ch: str) -> str:
    return f"(instr({lit(USCC_ALPHABET)}, upper({ch})) - 1)"


def uscc_digits_sql(x17: str, last: str) -> str:
    """GB 32100 check on an all-digit body (`x17`, BIGINT) and its check character `last`.

    The check character c satisfies sum(v_i * w_i) + v(c) = 0 (mod 31), w_i = 3^(i-1) mod 31.
    """
    terms = [f"{_digit(x17, 16 - i)} * {w}" for i, w in enumerate(_USCC_WEIGHTS)]
    return f"(({' + '.join(terms)} + {_uscc_value(last)}) % 31 = 0)"


def uscc_sql(d: str) -> str:
    """GB 32100 check on an 18-character candidate `d` whose body holds letters (8 digits, then 10 alphabet
    characters): character values by position in the alphabet."""
    head = f"CAST(left({d}, 8) AS BIGINT)"
    terms = [f"{_digit(head, 7 - i)} * {w}" for i, w in enumerate(_USCC_WEIGHTS[:8])]
    terms += [f"{_uscc_value(f'substr({d}, {i + 1}, 1)')} * {w}" for i, w in enumerate(_USCC_WEIGHTS) if i >= 8]
    return f"(({' + '.join(terms)} + {_uscc_value(f'right({d}, 1)')}) % 31 = 0)"


def luhn_sql(lo: str, hi: str) -> str:
    """Luhn (ISO/IEC 7812) over a number split into two BIGINT blocks: `lo` its last 9 digits, `hi` the rest
    (up to 10 digits). From the right, digits at odd positions are doubled (2x - 9 when 2x > 9)."""

    def term(x: str, k: int, doubled: bool) -> str:
        digit = _digit(x, k)
        return f"({digit} * 2 - {digit} // 5 * 9)" if doubled else digit

    terms = [term(lo, k, k % 2 == 1) for k in range(9)] + [term(hi, k, k % 2 == 0) for k in range(10)]
    return f"(({' + '.join(terms)}) % 10 = 0)"


def _coord_pair_sql(v: str) -> str:
    a = f"abs(TRY_CAST(regexp_extract({v}, {lit(RE_COORD_PAIR)}, 1) AS DOUBLE))"
    b = f"abs(TRY_CAST(regexp_extract({v}, {lit(RE_COORD_PAIR)}, 2) AS DOUBLE))"
    return _case(f"regexp_full_match({v}, {lit(RE_COORD_PAIR)})",
                 f"coalesce(({a} <= 180 AND {b} <= 90) OR ({a} <= 90 AND {b} <= 180), false)")


# Guards: tests that cost a comparison (length in bytes, first character; UTF-8 orders like code points). A
# detector can match only where its guard holds, so its regular expressions and arithmetic run only there, and
# the probe counts guards alone to choose which detectors a column needs.
_HAN = "({v} >= '\u4e00' AND {v} < '\ua000')"  # starts with a CJK ideograph
_DIGIT = "({v} >= '0' AND {v} < ':')"  # starts with a digit
GUARDS: dict[str, str] = {
    PiiType.resident_id: "{dn} = 18 AND {d} >= '0' AND {d} < ':'",
    PiiType.uscc: "{dn} = 18 AND {d} >= '0' AND {d} < ':'",
    PiiType.bank_card: "{dn} BETWEEN 16 AND 19 AND {d} >= '2' AND {d} < ':'",
    PiiType.mobile: "{dn} BETWEEN 11 AND 15 AND (({d} >= '0' AND {d} < '2') OR prefix({d}, '+'))",
    PiiType.landline: "{n} BETWEEN 10 AND 26 AND (prefix({v}, '0') OR prefix({v}, '(') OR prefix({v}, '+'))",
    PiiType.email: "contains({v}, '@')",
    PiiType.plate: f"{{n}} BETWEEN 9 AND 15 AND {_HAN} AND substr({{v}}, 2, 1) BETWEEN 'A' AND 'Z'",
    PiiType.passport: "{n} BETWEEN 8 AND 9 AND {v} >= 'D' AND {v} < 'T'",
    PiiType.person_name: (f"{_HAN} AND ({{n}} BETWEEN 6 AND 12 OR ({{n}} BETWEEN 13 AND 60"
                          " AND (contains({v}, '·') OR contains({v}, '•') OR contains({v}, '・'))))"),
    PiiType.address: f"{{n}} BETWEEN 14 AND 600 AND {_HAN}",
    PiiType.birth_date: ("{v} >= '1' AND {v} < '3' AND ({n} = 8 OR ({n} BETWEEN 9 AND 30"
                         " AND contains('-/.年', substr({v}, 5, 1))))"),
    PiiType.ip_address: (f"({{n}} BETWEEN 7 AND 15 AND {_DIGIT} AND contains({{v}}, '.'))"
                         " OR ({n} BETWEEN 2 AND 45 AND contains({v}, ':'))"),
    PiiType.coordinates: (f"{{n}} BETWEEN 9 AND 80 AND ({_DIGIT} OR prefix({{v}}, '-') OR prefix({{v}}, '(')"
                          " OR prefix(upper({v}), 'POINT')) AND contains({v}, '.')"),
    COORDINATE_PART: f"{{n}} BETWEEN 6 AND 24 AND ({_DIGIT} OR prefix({{v}}, '-')) AND contains({{v}}, '.')",
}


def stages(today: dt.date, *, upto: str | None = None) -> list[dict[str, str]]:
    """The per-value computation as stages of named SQL expressions; ``{name}`` is a value of an earlier stage.

    A query computes each stage as one projection over the previous one, so shared values (the cleaned text,
    the digit blocks) are computed once per value and every later expression reads them. The last stage
    holds the detectors, ``f_<key>``. With `upto`, the stages end with the one that defines that value.
    """
    holders = ", ".join(lit(p) for p in (*PLACEHOLDERS, *(p.upper() for p in PLACEHOLDERS if p.upper() != p),
                                          "Null", "None", "NaN"))
    iso = ("CASE WHEN contains('-/.年', substr({v}, 5, 1)) THEN translate({v}, '年月./日', '----')"
           " ELSE left({v}, 4) || '-' || substr({v}, 5, 2) || '-' || right({v}, 2) END")
    card = ("{body} IS NOT NULL AND right({body}, 1) NOT IN ('X', 'x')"
            " AND left({body}, 1) IN ('2', '3', '4', '5', '6', '9')")
    g = GUARDS
    f = {
        # A valid ID number is nothing else: the USCC and card checks skip it (in a column of ID numbers,
        # two thirds of the arithmetic), so these three counts never overlap.
        PiiType.resident_id: "{rid}",
        PiiType.uscc: (f"CASE WHEN {{rid}} THEN false"
                       f" WHEN {{x17}} IS NOT NULL THEN {uscc_digits_sql('{x17}', 'right({d}, 1)')}"
                       f" WHEN {g[PiiType.uscc]} AND regexp_full_match({{d}}, {lit(RE_USCC)})"
                       f" THEN {uscc_sql('{d}')} ELSE false END"),
        PiiType.bank_card: _case("{lo} IS NOT NULL", luhn_sql("{lo}", "{hi}")),
        PiiType.mobile: _case(g[PiiType.mobile], f"regexp_full_match({{d}}, {lit(RE_MOBILE)})"),
        PiiType.landline: _case(g[PiiType.landline], f"regexp_full_match({{v}}, {lit(RE_LANDLINE)})"),
        PiiType.email: _case(g[PiiType.email], f"regexp_full_match({{v}}, {lit(RE_EMAIL)})"),
        PiiType.plate: _case(g[PiiType.plate], f"regexp_full_match({{v}}, {lit(RE_PLATE)})"),
        PiiType.passport: _case(g[PiiType.passport], f"regexp_full_match({{v}}, {lit(RE_PASSPORT)})"),
        PiiType.person_name: _case(g[PiiType.person_name], f"regexp_full_match({{v}}, {lit(RE_NAME)})",
                                   f"NOT regexp_matches({{v}}, {lit(RE_NAME_NOT)})"),
        PiiType.address: _case(g[PiiType.address], f"regexp_matches({{v}}, {lit(RE_ADDRESS)})",
                               f"NOT regexp_matches({{v}}, {lit(RE_ADDRESS_NOT)})"),
        PiiType.birth_date: f"coalesce({{bd}} BETWEEN DATE '1900-01-01' AND DATE {lit(today.isoformat())}, false)",
        PiiType.ip_address: (f"CASE WHEN {{n}} BETWEEN 7 AND 15 AND {_DIGIT} AND contains({{v}}, '.')"
                             f" THEN regexp_full_match({{v}}, {lit(RE_IPV4)})"
                             f" WHEN {{n}} BETWEEN 2 AND 45 AND contains({{v}}, ':')"
                             f" THEN regexp_full_match({{v}}, {lit(RE_IPV6)}) ELSE false END"),
        PiiType.coordinates: _case(g[PiiType.coordinates], _coord_pair_sql("{v}")),
        COORDINATE_PART: _case(g[COORDINATE_PART], f"regexp_full_match({{v}}, {lit(RE_COORD_PART)})",
                               "abs({v}::DOUBLE) <= 180"),
    }
    out = [
        # DuckDB's trim() takes spaces, U+3000 and NBSP; a character list would be 3x slower.
        {"t": "trim(CAST({raw} AS VARCHAR))"},
        {"v": f"CASE WHEN strlen({{t}}) <= 9 AND {{t}} IN ('', {holders}) THEN NULL ELSE {{t}} END"},
        {"n": "strlen({v})"},
        {"d": "CASE WHEN {n} BETWEEN 11 AND 30 AND (contains({v}, ' ') OR contains({v}, '-'))"
              " THEN replace(replace({v}, ' ', ''), '-', '') ELSE {v} END",
         "bd": (f"CASE WHEN {g[PiiType.birth_date]} THEN CASE WHEN regexp_full_match({{v}}, {lit(RE_DATE)})"
                f" THEN TRY_CAST({iso} AS DATE) END END")},
        {"dn": "strlen({d})",
         "body": ("CASE WHEN strlen({d}) BETWEEN 16 AND 19 AND {d} >= '0' AND {d} < ':'"
                  f" AND regexp_full_match({{d}}, {lit(RE_DIGITS)}) THEN {{d}} END")},
        {"x17": "CASE WHEN strlen({body}) = 18 THEN CAST(left({body}, 17) AS BIGINT) END"},
        {"rid": _case("{x17} IS NOT NULL", ric_sql("{x17}", "right({d}, 1)", today))},
        {"lo": f"CASE WHEN {card} AND NOT {{rid}} THEN CAST(right({{body}}, 9) AS BIGINT) END",
         "hi": f"CASE WHEN {card} AND NOT {{rid}} THEN CAST(left({{body}}, strlen({{body}}) - 9) AS BIGINT) END"},
        {f"f_{k}": e for k, e in f.items()},
    ]
    if upto:
        out = out[:next(i for i, st in enumerate(out) if upto in st) + 1]
    return out


KEYS: tuple[str, ...] = (*(t.value for t in PRIORITY), COORDINATE_PART)


_SLOT = re.compile(r"\{(raw|t|v|n|d|dn|body|bd|x17|lo|hi|rid)\}")


def _fill(template: str, names: dict[str, str]) -> str:
    return _SLOT.sub(lambda m: names[m.group(1)], template)


def pipeline(source: str, raws: list[str], today: dt.date, *, keys: list[set[str]] | None = None,
             keep: tuple[str, ...] = (), guards_only: bool = False) -> tuple[str, list[dict]]:
    """A query that computes the stages for each raw column of `source` (a FROM item).

    `keys`, per raw column, limits the detectors computed (default: all of `KEYS`); stage values that no
    chosen detector reads are left out. With `guards_only`, the last stage holds each detector's guard,
    ``g_<key>``, instead of the detector. Returns the query and, per raw column, the name of each value
    computed (``{"v": "v0", "d": "d0", "f_mobile": "f_mobile0", ...}``). `keep` names columns of `source`
    carried through. Every column has ``v``; ``d`` comes with resident_id and bank_card, ``bd`` with birth_date.
    """
    plan = stages(today)
    last = {f"g_{k}": GUARDS[k] for k in KEYS} if guards_only else plan[-1]
    plan = [*plan[:-1], last]
    prefix = "g_" if guards_only else "f_"
    defined = {k: e for stage in plan for k, e in stage.items()}
    names: list[dict[str, str]] = [{"raw": r} for r in raws]
    needs = []
    for j in range(len(raws)):
        chosen = [k for k in KEYS if keys is None or k in keys[j]]
        todo = [prefix + k for k in chosen] + ["v"] + (["d"] if {"resident_id", "bank_card"} & set(chosen) else [])
        todo += ["bd"] if "birth_date" in chosen else []
        need: set[str] = set()
        while todo:
            k = todo.pop()
            if k not in need and k in defined:
                need.add(k)
                todo += _SLOT.findall(defined[k])
        needs.append(need)
    query = f"SELECT * FROM {source}"
    for i, stage in enumerate(plan):
        cols = list(keep)
        for j, nm in enumerate(names):
            # Every later stage may read any earlier value: carry all forward (DuckDB drops unread ones).
            cols += [v for k, v in nm.items() if k != "raw"]
            wanted = [k for k in stage if k in needs[j]]
            cols += [f"{_fill(stage[k], nm)} AS {k}{j}" for k in wanted]
            nm.update({k: f"{k}{j}" for k in wanted})
        # Nested subqueries, not a chain of CTEs: DuckDB plans CTE chains this wide several times slower.
        query = f"SELECT {', '.join(cols)} FROM ({query}) s{i}"
    return query, names


def values_sql(source: str, column: str, *, today: dt.date | None = None, keep: tuple[str, ...] = ()) -> str:
    """A query over `source` (a FROM item: table name or parenthesised query) giving, per row, the `keep`
    columns, ``value`` (the cleaned text), one boolean column per detector (``resident_id`` ... and
    ``coordinate_part``) and ``pii_type``: the most specific type that matches (`PRIORITY`), or NULL.

    For classifying single values (masking, tests, the quality benchmark); `scan` aggregates the same stages.
    """
    query, (nm,) = pipeline(source, [column], today or dt.date.today(), keep=keep)
    flags = ", ".join(f"{nm['f_' + k]} AS {k}" for k in KEYS)
    whens = " ".join(f"WHEN {nm['f_' + t.value]} THEN {lit(t.value)}" for t in PRIORITY)
    kept = "".join(f"{k}, " for k in keep)
    return f"SELECT {kept}{nm['v']} AS value, {flags}, CASE {whens} END AS pii_type FROM ({query}) p"
