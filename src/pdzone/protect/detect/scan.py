"""Scan a table's columns for personal information: one SQL pass over (a sample of) the table."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field

import duckdb

from pdzone.errors import Invalid

from . import sql
from .hints import Hints, hints
from .pii import CHECK_DIGIT_TYPES, HEURISTIC_TYPES, PRIORITY, PiiType

T = PiiType
DEFAULT_SAMPLE = 100_000
MIN_CONFIDENCE = 0.5

# Column types that cannot hold the identifiers looked for: not scanned.
_SKIP_TYPES = re.compile(r"^(BOOLEAN|BLOB|BIT|UUID|INTERVAL|TIME\b|TIME WITH|.*\[\]$|.*\[\d+\]$|STRUCT|MAP|UNION"
                         r"|LIST|ARRAY|GEOMETRY|VARIANT)")


@dataclass(frozen=True)
class Evidence:
    """One reason behind a finding; `code` is stable for programs, `zh` and `en` are for people."""

    code: str
    zh: str
    en: str

    def __str__(self) -> str:
        return self.en


@dataclass
class ColumnFinding:
    """What one column appears to hold. A suggestion for a person to confirm, never a decision.

    `pii_type` is None when no type reaches `MIN_CONFIDENCE`. `match_rate` is the share of the scanned
    non-empty values that the chosen detector accepts; `rates` has every detector's share (those above 0),
    `second_best` the runner-up type and its confidence.
    """

    column: str
    pii_type: PiiType | None
    match_rate: float
    confidence: float
    evidence: list[Evidence]
    scanned: int  # non-empty values looked at
    rows: int = 0  # rows read (the sample, or the whole table)
    sampled: bool = False
    rates: dict[str, float] = field(default_factory=dict)
    second_best: tuple[PiiType, float] | None = None


_IDENT = r'(?:"(?:[^"]|"")+"|[^\W\d][\w$]*)'
_PATH = re.compile(rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}}")


def quote_ident(name: str) -> str:
    """A SQL identifier in double quotes (Chinese names and spaces welcome)."""
    return '"' + name.replace('"', '""') + '"'


def relation_sql(relation: str) -> str:
    """`relation` as safe SQL: a (schema- or catalog-qualified) name, each part quoted or bare, is re-quoted
    part by part; anything else is taken as one table name."""
    relation = relation.strip()
    if _PATH.fullmatch(relation):
        parts = re.findall(_IDENT, relation)
        return ".".join(quote_ident(p[1:-1].replace('""', '"') if p.startswith('"') else p) for p in parts)
    return quote_ident(relation)


@functools.lru_cache(maxsize=8192)
def region_status(code: str) -> str:
    """'current', 'historic' (a county code since withdrawn) or 'unknown', from python-stdnum's code table."""
    from stdnum import numdb

    info = {k: v for _part, props in numdb.get("cn/loc").info(code) for k, v in props.items()}
    county = info.get("county")
    if not county:
        return "unknown"
    periods = [c[1:].split("]")[0] for c in county.split(",") if c.startswith("[")]
    if len(periods) < len(county.split(",")) or any(p.endswith("-") for p in periods):
        return "current"
    return "historic"


def scan(con: duckdb.DuckDBPyConnection, relation: str, columns: list[tuple[str, str | None]] | None = None, *,
         sample: int | None = DEFAULT_SAMPLE, seed: int = 0, today: dt.date | None = None) -> list[ColumnFinding]:
    """Detect personal information per column of `relation` (a table or view in `con`).

    `columns` are (name, description) pairs; None scans every column without descriptions. With `sample`,
    a reservoir sample of that many rows is read (``USING SAMPLE reservoir``, seeded); None reads all rows.
    One SQL statement computes every detector's match count for every column; Python only turns the counts
    into findings. Returns one finding per column, in the order asked.
    """
    today = today or dt.date.today()
    rel = relation_sql(relation)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    except duckdb.Error as e:
        raise Invalid(f"无法读取数据表 {relation}", f"cannot read relation {relation}", code="unknown_relation",
                      status=404) from e
    types = {row[0]: str(row[1]) for row in described}
    wanted = columns if columns is not None else [(name, None) for name in types]
    for name, _ in wanted:
        if name not in types:
            raise Invalid(f"数据表中没有列 {name}", f"no column {name} in {relation}", code="unknown_column",
                          details={"column": name})
    scanned = [(i, name) for i, (name, _) in enumerate(wanted) if not _SKIP_TYPES.match(types[name].upper())]
    stats = _run(con, rel, [name for _, name in scanned], sample=sample, seed=seed, today=today) if scanned else []
    by_index = dict(zip([i for i, _ in scanned], stats, strict=True))
    out = []
    for i, (name, description) in enumerate(wanted):
        if i not in by_index:
            out.append(ColumnFinding(name, None, 0.0, 0.0, [Evidence(
                "type_skipped", f"列类型 {types[name]} 不会包含个人信息，未扫描",
                f"column type {types[name]} cannot hold personal identifiers; not scanned")], 0))
            continue
        out.append(_finding(name, hints(name, description), by_index[i]))
    return out


def _run(con, rel: str, names: list[str], *, sample: int | None, seed: int, today: dt.date) -> list[dict]:
    """The one statement: per column, non-empty count, count per detector and a few extra statistics."""
    src = ", ".join(f"{quote_ident(n)} AS c{i}" for i, n in enumerate(names))
    sampling = f" USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE ({int(seed)})" if sample else ""
    with_sql, cols = sql.pipeline(f"(SELECT {src} FROM {rel}{sampling})", [f"c{i}" for i in range(len(names))],
                                  today)
    aggs = ["count(*)"]
    for nm in cols:
        # count_if, not count(*) FILTER: a filtered aggregate copies its input for every filter.
        aggs.append(f"count({nm['v']})")
        aggs += [f"count_if({nm['f_' + k]})" for k in sql.KEYS]
        born = nm["f_birth_date"]
        aggs += [f"histogram(CASE WHEN {nm['f_resident_id']} THEN left({nm['d']}, 6) END)",
                 f"count_if({nm['f_bank_card']} AND prefix({nm['d']}, '62'))",
                 f"stddev_pop(CASE WHEN {born} THEN year({nm['bd']}) END)",
                 f"min(CASE WHEN {born} THEN {nm['bd']} END)", f"max(CASE WHEN {born} THEN {nm['bd']} END)"]
    if sample:
        aggs.append(f"(SELECT count(*) FROM {rel})")
    row = con.execute(f"{with_sql} SELECT {', '.join(aggs)} FROM p").fetchone()
    assert row is not None
    rows, total = row[0], (row[-1] if sample else row[0])
    nk = len(sql.KEYS)
    per = 1 + nk + 5
    out = []
    for i in range(len(names)):
        part = row[1 + i * per: 1 + (i + 1) * per]
        out.append({"rows": rows, "sampled": total > rows, "nonnull": part[0],
                    "counts": dict(zip(sql.KEYS, part[1:1 + nk], strict=True)),
                    "regions": part[1 + nk] or {}, "unionpay": part[2 + nk], "year_sd": part[3 + nk],
                    "born_min": part[4 + nk], "born_max": part[5 + nk]})
    return out


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _finding(name: str, hint: Hints, st: dict) -> ColumnFinding:
    nonnull = st["nonnull"]
    rates = {str(k): c / nonnull for k, c in st["counts"].items() if nonnull and c}
    conf: dict[PiiType, float] = {}
    notes: dict[PiiType, list[Evidence]] = {t: [] for t in PRIORITY}
    for t in PRIORITY:
        rate = rates.get(t, 0.0)
        if t == T.coordinates and T.coordinates in hint.types:
            rate = max(rate, rates.get(sql.COORDINATE_PART, 0.0))  # a 经度 or 纬度 column on its own
        strength = 1.0 if t in CHECK_DIGIT_TYPES else 0.85 if t in HEURISTIC_TYPES else 0.95
        c = rate * strength
        if t == T.birth_date and rate and T.birth_date not in hint.types and (st["year_sd"] or 0) < 5:
            # Dates alone do not say "birth": without a name for it, only a spread over generations does.
            c *= 0.5
            notes[t].append(Evidence("dates_not_births", "日期分布集中，不像出生日期（列名也未表明）",
                                     "dates cluster within a few years and the column name does not say birth"))
        if t in hint.types and rate >= 0.5:
            c += (1 - c) * 0.5
        elif rate and (hint.not_personal or (hint.types and t not in hint.types)):
            c *= 0.9
        conf[t] = c * nonnull / (nonnull + 10)
    ranked = sorted(PRIORITY, key=lambda t: (-conf[t], PRIORITY.index(t)))
    best, runner = ranked[0], ranked[1]
    chosen = best if conf[best] >= MIN_CONFIDENCE else None
    rate = rates.get(best, 0.0) if best != T.coordinates or best not in hint.types else max(
        rates.get(best, 0.0), rates.get(sql.COORDINATE_PART, 0.0))
    evidence = _evidence(best, rate, hint, st) + notes[best] if conf[best] > 0 else []
    if not nonnull:
        evidence = [Evidence("empty", "没有非空值", "no non-empty values")]
    return ColumnFinding(
        column=name, pii_type=chosen, match_rate=round(rate, 6), confidence=round(conf[best], 4),
        evidence=evidence, scanned=nonnull, rows=st["rows"], sampled=st["sampled"],
        rates={k: round(v, 6) for k, v in rates.items()},
        second_best=(runner, round(conf[runner], 4)) if conf[runner] > 0 else None)


def _evidence(t: PiiType, rate: float, hint: Hints, st: dict) -> list[Evidence]:
    scope = "抽样" if st["sampled"] else "全部"
    scope_en = "sampled" if st["sampled"] else "all"
    out = [Evidence("match_rate", f"{scope} {st['nonnull']:,} 个非空值中 {_pct(rate)} 符合{_LABEL_ZH[t]}格式",
                    f"{_pct(rate)} of {st['nonnull']:,} {scope_en} non-empty values match {t.value}")]
    if t in CHECK_DIGIT_TYPES:
        std = {T.resident_id: "GB 11643", T.uscc: "GB 32100", T.bank_card: "Luhn"}[t]
        extra_zh = "且出生日期真实" if t == T.resident_id else ""
        extra_en = " and a real birth date" if t == T.resident_id else ""
        out.append(Evidence("check_digit", f"校验位正确（{std}）{extra_zh}", f"check digit valid ({std}){extra_en}"))
    if t == T.resident_id and st["regions"]:
        status = {"current": 0, "historic": 0, "unknown": 0}
        for code, count in st["regions"].items():
            status[region_status(code)] += count
        total = sum(status.values())
        known, old = (status["current"] + status["historic"]) / total, status["historic"] / total
        out.append(Evidence("region_codes", f"{_pct(known)} 的地区码可识别（其中 {_pct(old)} 已撤销，仍属有效号码）",
                            f"{_pct(known)} region codes known ({_pct(old)} since withdrawn, still valid numbers)"))
    if t == T.bank_card and st["counts"][T.bank_card]:
        share = st["unionpay"] / st["counts"][T.bank_card]
        out.append(Evidence("unionpay", f"{_pct(share)} 为银联卡号（62 开头）", f"{_pct(share)} UnionPay prefix 62"))
    if t == T.birth_date and st["born_min"]:
        out.append(Evidence("date_range", f"日期范围 {st['born_min']} 至 {st['born_max']}",
                            f"dates from {st['born_min']} to {st['born_max']}"))
    if t in hint.types:
        out.append(Evidence("column_name", f"列名或说明提示：{'、'.join(hint.words)}",
                            f"column name or description suggests it: {', '.join(hint.words)}"))
    elif hint.not_personal:
        out.append(Evidence("column_name_business", f"列名或说明像业务编号：{'、'.join(hint.words)}",
                            f"column name or description suggests a business number: {', '.join(hint.words)}"))
    elif hint.types:
        out.append(Evidence("column_name_other", f"列名或说明提示其他类型：{'、'.join(hint.words)}",
                            f"column name or description suggests another type: {', '.join(hint.words)}"))
    return out


_LABEL_ZH = {
    T.resident_id: "身份证号码", T.uscc: "统一社会信用代码", T.mobile: "手机号码", T.landline: "固定电话",
    T.bank_card: "银行卡号", T.email: "电子邮箱", T.plate: "车牌号", T.passport: "护照号码", T.person_name: "姓名",
    T.address: "地址", T.birth_date: "出生日期", T.ip_address: "IP 地址", T.coordinates: "经纬度",
}
