"""The operators as DuckDB SQL expressions, so masking runs inside the engine, vectorized and in parallel.

Safety: the only text that reaches the SQL is (a) a column reference that must already be a quoted identifier
(checked), (b) parameters of a validated :class:`ColumnPolicy`, rendered as SQL literals (integers by ``int``,
floats by ``repr`` inside a cast, strings with ``'`` doubled; DuckDB's standard strings have no backslash
escapes), and (c) constants of this module. The column's type, when given, only chooses between constant forms.
"""

from __future__ import annotations

import re

from pdzone.errors import Invalid
from pdzone.protect.masking.policy import INVALID_POLICY, MAX_AGE, ColumnPolicy, MaskOp

_QUOTED = re.compile(r'(?:"(?:[^"\x00]|"")+"\.){0,3}"(?:[^"\x00]|"")+"')
_NAME = re.compile(r'"(?:[^"\x00]|"")+"')
_NUMERIC = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                      "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL", "INT", "INT1", "INT2", "INT4",
                      "INT8", "NUMERIC", "FLOAT4", "FLOAT8"})
# Text dates the operators read besides ISO 8601 (which TRY_CAST reads, with or without a time).
DATE_FORMATS = ("%Y%m%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")


def quote_identifier(name: str) -> str:
    """A DuckDB identifier in double quotes, ``"`` doubled: safe for any name, Chinese included."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise Invalid("列名或表名无效", "invalid column or table name", code="invalid_identifier",
                      details={"name": repr(name)})
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    """A SQL string literal."""
    if "\x00" in text:
        raise Invalid("文本含有空字符", "text holds a NUL character", code=INVALID_POLICY)
    return "'" + text.replace("'", "''") + "'"


def _number(value: int | float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("数值参数无效", "invalid numeric parameter", code=INVALID_POLICY)
    return str(int(value)) if isinstance(value, int) else f"CAST('{float(value)!r}' AS DOUBLE)"


def _kind(column_type: str | None) -> str:
    """text, number, date, timestamp, other or unknown: which cast the operators need (never rendered)."""
    if column_type is None:
        return "unknown"
    base = column_type.strip().upper().split("(")[0].strip()
    if base in ("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR"):
        return "text"
    if base in _NUMERIC:
        return "number"
    if base == "DATE":
        return "date"
    if base.startswith("TIMESTAMP") or base == "DATETIME":
        return "timestamp"
    return "other"


def _text(c: str, kind: str) -> str:
    return c if kind == "text" else f"CAST({c} AS VARCHAR)"


def _numeric(c: str, kind: str) -> str:
    return c if kind == "number" else f"TRY_CAST({_text(c, kind)} AS DOUBLE)"


def _date(c: str, kind: str) -> str:
    if kind == "date":
        return c
    if kind == "timestamp":
        return f"CAST({c} AS DATE)"
    t = _text(c, kind)
    formats = ", ".join(sql_string(f) for f in DATE_FORMATS)
    return f"coalesce(TRY_CAST({t} AS DATE), CAST(try_strptime({t}, [{formats}]) AS DATE))"


# --- address: province, prefecture, county ---------------------------------------------------------------------

_PROVINCE = ("(?:(?:北京|天津|上海|重庆)市?"
             "|(?:河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川|贵州|云南"
             "|陕西|甘肃|青海|台湾)省?"
             "|内蒙古(?:自治区)?|广西(?:壮族自治区)?|西藏(?:自治区)?|宁夏(?:回族自治区)?|新疆(?:维吾尔自治区)?"
             "|(?:香港|澳门)(?:特别行政区)?)")
# A name never holds a digit, Latin letter, space or punctuation, nor the characters of street-level parts
# (路 街 巷 弄 号 楼 栋 幢 室 村 镇 乡 小区 社区 校区 厂区), so an address with no district cannot yield a street.
_NOT_NAME = r"\s\d０-９A-Za-zＡ-Ｚａ-ｚ[:punct:]，。、；：（）【】《》“”‘’·—－#＃路街巷弄号楼栋幢室村镇乡小社校厂"
_PREFECTURE = f"[^{_NOT_NAME}省市区县旗盟]{{1,9}}?(?:自治州|地区|盟|市)"
# Real counties whose names hold one of the excluded characters.
_COUNTY_EXCEPTIONS = ("路北区|路南区|路桥区|镇海区|镇原县|镇安县|镇雄县|镇平县|镇赉县|镇坪县|镇巴县|镇康县"
                      "|镇宁布依族苗族自治县|镇沅彝族哈尼族拉祜族自治县|乡宁县|乡城县|市中区|小店区|社旗县")
_COUNTY = f"(?:{_COUNTY_EXCEPTIONS}|[^{_NOT_NAME}省市区县旗盟]{{1,14}}?(?:区|县|旗|市))"
_PREFIX = "^ *(?:中华人民共和国|中国)? *"
ADDRESS_PATTERNS = {
    "province": f"{_PREFIX}{_PROVINCE}",
    "city": f"{_PREFIX}{_PROVINCE}?(?:{_PREFECTURE})?",
    "district": f"{_PREFIX}{_PROVINCE}?(?:{_PREFECTURE})?(?:{_COUNTY})?",
}


def _address(t: str, granularity: str) -> str:
    """The leading administrative part of an address, or NULL.

    The whole match (group 0) needs only RE2's DFA, some 15 times faster than a capture group, so the optional
    country prefix is matched and then cut off the short result, with ltrim: the regex skips ASCII spaces only, ltrim
    every Unicode space separator (Zs), and what is left may start with a country prefix again. The cutting only
    ever changes a match of a value that starts with a space or 中. A value whose first character lies above U+3000,
    the last space separator, and is not 中 (so every value starting with a CJK ideograph but 中: nearly every
    Chinese address) is left as the regex matched it, without ltrim and the prefix tests.

    DuckDB compiles a pattern for every place it appears in the SQL text (some 5 ms each for these), so it appears
    twice here (nullif makes that four); the rare values that need cutting bind their one match to a lambda
    parameter, so every row still runs the regex once (the lambda costs those rows some 100 ns more).
    """
    match = f"regexp_extract({t}, {sql_string(ADDRESS_PATTERNS[granularity])})"
    found = "ltrim(m)"
    cut = (f"CASE WHEN starts_with({found}, '中华人民共和国') THEN ltrim(substr({found}, 8)) "
           f"WHEN starts_with({found}, '中国') THEN ltrim(substr({found}, 3)) ELSE {found} END")
    # Two comparisons, not NOT IN (...): DuckDB turns a long IN list into a join, which also defeats the
    # common-subexpression elimination that nullif relies on.
    plain = f"unicode({t}) > 12288 AND unicode({t}) <> 20013"  # 中 is U+4E2D
    return f"nullif(CASE WHEN {plain} THEN {match} ELSE list_transform([{match}], lambda m: {cut})[1] END, '')"


# --- resident ID numbers (GB 11643): 18 digits, or the 15 of before 1999 -------------------------------------------

_DATE_MMDD = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
ID18 = rf"\d{{6}}(?:18|19|20)\d{{2}}{_DATE_MMDD}\d{{3}}[\dXx]"
ID15 = rf"\d{{6}}\d{{2}}{_DATE_MMDD}\d{{3}}"


def _id_parts(t: str, policy: ColumnPolicy, *, year: str, sex_at: int) -> str:
    # concat() measured well ahead of ||; every part is non-NULL once the number matched.
    parts = []
    if policy.region_digits:
        pad = "0" * (6 - policy.region_digits)
        parts += [f"substring({t}, 1, {policy.region_digits})", f"'{pad}|'"]
    parts.append(year)
    if policy.keep_sex:  # the 17th (15th) digit: odd = male (GB 11643); it is a digit once the number matched
        parts.append(f"['|女', '|男'][1 + ascii(substring({t}, {sex_at}, 1)) % 2]")
    return f"concat({', '.join(parts)})"


def sql_expression(column_sql: str, policy: ColumnPolicy, *, column_type: str | None = None,
                   source_sql: str | None = None) -> str | None:
    """A DuckDB expression applying ``policy`` to ``column_sql``, or None where the engine cannot (``pseudonym``).

    ``column_sql`` must be a quoted identifier, optionally qualified (``"t"."姓名"``): see :func:`quote_identifier`.
    ``column_type`` is the column's DuckDB type name (``VARCHAR``, ``INTEGER``, ``DATE`` …) when known: it keeps
    numbers numeric (top coding an INTEGER column gives an INTEGER) and skips needless casts. Without it, or for a
    text column, operators parse the text and give NULL where they cannot. NULL stays NULL everywhere.

    Output types: ``partial``, ``age_band``, ``date_month``, ``address_district``, ``id_generalize`` and ``redact``
    with a replacement give VARCHAR; ``date_year`` BIGINT; ``top_code``/``bottom_code`` the column's numeric type
    (DOUBLE for text); ``keep``, ``suppress`` and ``redact`` to NULL keep the column's type.

    ``source_sql``, the relation the column is read from (a quoted name, optionally qualified), lets ``suppress``
    count values with a grouped count over the relation matched by a hash semi-join, instead of a window
    partitioned by the column, which sorts it: less work, the rows keep their order, and a LIMIT stops the scan
    early. ``column_sql`` must then be the column's own name, unqualified, so the subquery reads it from there.
    """
    if not isinstance(policy, ColumnPolicy):
        raise Invalid("缺少脱敏策略", "not a masking policy", code=INVALID_POLICY)
    if not isinstance(column_sql, str) or not _QUOTED.fullmatch(column_sql):
        raise Invalid("列引用须为加引号的标识符", "the column reference must be a quoted identifier",
                      code="invalid_identifier", details={"column_sql": repr(column_sql)[:200]})
    if source_sql is not None and (not isinstance(source_sql, str) or not _QUOTED.fullmatch(source_sql)
                                   or not _NAME.fullmatch(column_sql)):
        raise Invalid("数据来源须为加引号的标识符，列引用须为不带限定的列名",
                      "the source must be a quoted identifier, the column reference an unqualified name",
                      code="invalid_identifier", details={"source_sql": repr(source_sql)[:200]})
    c, kind, op = column_sql, _kind(column_type), policy.op
    match op:
        case MaskOp.KEEP:
            return c
        case MaskOp.PSEUDONYM:
            return None
        case MaskOp.REDACT:
            if policy.replacement is None:
                return f"(CASE WHEN FALSE THEN {c} END)"  # NULL of the column's own type
            return f"(CASE WHEN {c} IS NULL THEN NULL ELSE {sql_string(policy.replacement)} END)"
        case MaskOp.PARTIAL:
            return _partial(_text(c, kind), policy)
        case MaskOp.AGE_BAND:
            # A constant list of labels indexed by the band: no number formatting per row.
            a, w = _numeric(c, kind), policy.band_width
            labels = "[" + ", ".join(sql_string(f"{lo}-{lo + w - 1}") for lo in range(0, MAX_AGE + 1, w)) + "]"
            top = "" if policy.cap is None else \
                f"WHEN {a} >= {_number(policy.cap)} THEN {sql_string(f'{policy.cap}+')} "
            return (f"(CASE WHEN {a} IS NULL OR NOT isfinite({a}) OR {a} < 0 OR {a} > {MAX_AGE} THEN NULL {top}"
                    f"ELSE {labels}[1 + CAST(floor({a} / {w}) AS INTEGER)] END)")
        case MaskOp.DATE_MONTH:
            return f"strftime({_date(c, kind)}, '%Y-%m')"
        case MaskOp.DATE_YEAR:
            return f"year({_date(c, kind)})"
        case MaskOp.ADDRESS_DISTRICT:
            return _address(_text(c, kind), policy.granularity)
        case MaskOp.ID_GENERALIZE:
            t = _text(c, kind)
            id18 = _id_parts(t, policy, year=f"substring({t}, 7, 4)", sex_at=17)
            id15 = _id_parts(t, policy, year=f"'19', substring({t}, 7, 2)", sex_at=15)
            # A match is all ASCII, so its byte length is known: strlen (constant time) spares the regex, whose
            # per-call cost dominates, on values of any other length.
            return (f"(CASE WHEN strlen({t}) = 18 AND regexp_full_match({t}, {sql_string(ID18)}) THEN {id18} "
                    f"WHEN strlen({t}) = 15 AND regexp_full_match({t}, {sql_string(ID15)}) THEN {id15} END)")
        case MaskOp.TOP_CODE | MaskOp.BOTTOM_CODE:
            x = _numeric(c, kind)
            bound, cmp = (policy.cap, ">") if op is MaskOp.TOP_CODE else (policy.floor, "<")
            assert bound is not None  # the policy's validator requires it
            b = _number(bound)
            return f"(CASE WHEN {x} {cmp} {b} THEN {b} ELSE {x} END)"
        case MaskOp.SUPPRESS:
            if source_sql is None:
                return f"(CASE WHEN count({c}) OVER (PARTITION BY {c}) < {policy.min_count} THEN NULL ELSE {c} END)"
            # Counted over the whole relation, before any LIMIT. NULL is never IN the list, so it stays NULL.
            frequent = (f"SELECT {c} FROM {source_sql} WHERE {c} IS NOT NULL GROUP BY {c} "
                        f"HAVING count(*) >= {policy.min_count}")
            return f"(CASE WHEN {c} IN ({frequent}) THEN {c} END)"
    raise AssertionError(op)  # pragma: no cover - every operator is matched above


def _partial(s: str, policy: ColumnPolicy) -> str:
    """Keep ends, mask the middle; at least one character is masked in any non-empty value.

    Values longer than keep_first + keep_last (nearly all) take the first, plain branch; shorter ones keep fewer
    characters, keep_first first. concat() measured well ahead of ``||``, but it reads NULL as '': the CASE
    (no branch for a NULL length) keeps NULL NULL.
    """
    m, n = policy.keep_first, policy.keep_last
    length = f"length({s})"

    def pieces(first: str, last: str) -> str:
        out = [f"substring({s}, 1, {first})"] if first != "0" else []
        if policy.mask_len is None:
            out.append(f"repeat({sql_string(policy.mask_char)}, {length} - {first} - {last})")
        else:
            out.append(sql_string(policy.mask_char * policy.mask_len))
        if last != "0":
            out.append(f"substring({s}, {length} - {last} + 1)")
        return f"concat({', '.join(out)})"

    first = f"least({m}, greatest({length} - 1, 0))" if m else "0"
    last = f"least({n}, greatest({length} - 1 - {first}, 0))" if n else "0"
    return (f"(CASE WHEN {length} > {m + n} THEN {pieces(str(m), str(n))} "
            f"WHEN {length} = 0 THEN '' "
            f"WHEN {length} > 0 THEN {pieces(first, last)} END)")
