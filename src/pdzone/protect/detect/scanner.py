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
PROBE_ROWS = 2_000
#: Columns scanned per statement: a statement holds ~100 expressions per column, so its plan (and the memory
#: DuckDB needs for it) grows with its width; a wide table is scanned in statements of this many columns, each
#: over at most `sample` rows, so a scan's work is bounded by columns × sampled rows.
COLUMNS_PER_STATEMENT = 64

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

    `pii_type` is None when no type reaches `MIN_CONFIDENCE`. `match_rate` and `confidence` are those of the
    best candidate (also when it falls short); `match_rate` is the share of the scanned non-empty values its
    detector accepts. `rates` holds the share of every detector run on the column (detectors whose guard
    passed at most one value in the probe are not run: they match under about 0.1 %); a valid ID number counts
    for no other check-digit type. `second_best` is the runner-up type and its confidence.
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
    """Detect personal information per column of `relation` (a table or view in `con`; a name, optionally
    schema-qualified, each part bare or double-quoted; anything else is taken as one table name).

    `columns` are (name, description) pairs; None scans every column without descriptions. Columns of types
    that hold no identifiers (BOOLEAN, BLOB, nested types ...) get a finding saying they were skipped; others
    are read as text. With `sample`, tables larger than it are read through a seeded Bernoulli sample of about
    that many rows; None reads every row. `today` bounds birth dates (default: the current date).

    Two statements run per `COLUMNS_PER_STATEMENT` columns: the probe (see `_scan_stats`) and the scan; Python
    only turns their counts into findings. Returns one finding per column, in the order asked. Raises
    `Invalid` (``unknown_relation``, ``unknown_column``). The caller's connection is left with no open result.
    """
    today = today or dt.date.today()
    rel = relation_sql(relation)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    except duckdb.Error as e:
        raise Invalid(f"无法读取数据表 {relation}", f"cannot read relation {relation}",
                      code="unknown_relation") from e
    types = {row[0]: str(row[1]) for row in described}
    wanted = columns if columns is not None else [(name, None) for name in types]
    for name, _ in wanted:
        if name not in types:
            raise Invalid(f"数据表中没有列 {name}", f"no column {name} in {relation}", code="unknown_column",
                          details={"column": name})
    scanned = [(i, name) for i, (name, _) in enumerate(wanted) if not _SKIP_TYPES.match(types[name].upper())]
    col_hints = [hints(name, description) for name, description in wanted]
    stats: list[dict] = []
    for at in range(0, len(scanned), COLUMNS_PER_STATEMENT):  # bounded statements, whatever the table's width
        part = scanned[at:at + COLUMNS_PER_STATEMENT]
        stats += _scan_stats(con, rel, part, [col_hints[i] for i, _ in part], sample=sample, seed=seed,
                             today=today)
    by_index = dict(zip([i for i, _ in scanned], stats, strict=True))
    out = []
    for i, (name, _) in enumerate(wanted):
        if i not in by_index:
            out.append(ColumnFinding(name, None, 0.0, 0.0, [Evidence(
                "type_skipped", f"列类型 {types[name]} 不会包含个人信息，未扫描",
                f"column type {types[name]} cannot hold personal identifiers; not scanned")], 0))
            continue
        out.append(_finding(name, col_hints[i], by_index[i]))
    return out


def _scan_stats(con, rel: str, scanned: list[tuple[int, str]], col_hints: list[Hints], *, sample: int | None,
                seed: int, today: dt.date) -> list[dict]:
    """Probe, then scan. The probe counts, on `PROBE_ROWS` sampled rows, the values that pass each detector's
    guard (a length and first-character test, `sql.GUARDS`); the scan then runs, per column, only the detectors
    whose guard passed more than one probe value (any, on a table the probe read whole) or that the column's
    name points at. Detectors cost most on values they cannot match; this keeps a scan near one or two
    detectors per column. Detectors left out match under 0.1 % of values, too few to type a column."""
    names = [name for _, name in scanned]
    src = ", ".join(f"{quote_ident(n)} AS c{i}" for i, n in enumerate(names))
    query, cols = sql.pipeline(f"(SELECT {src} FROM {rel} USING SAMPLE reservoir({PROBE_ROWS} ROWS)"
                               f" REPEATABLE ({int(seed)}))", [f"c{i}" for i in range(len(names))], today,
                               guards_only=True)
    aggs = [f"(SELECT count(*) FROM {rel})"] + [f"count_if({nm['g_' + k]})" for nm in cols for k in sql.KEYS]
    row = con.execute(f"SELECT {', '.join(aggs)} FROM ({query}) p").fetchall()[0]
    assert row is not None
    total, nk = row[0], len(sql.KEYS)
    floor = 0 if total <= PROBE_ROWS else 1
    keys = []
    for i, hint in enumerate(col_hints):
        counts = row[1 + i * nk: 1 + (i + 1) * nk]
        ks = {k for k, c in zip(sql.KEYS, counts, strict=True) if (c or 0) > floor} | {t.value for t in hint.types}
        if T.coordinates.value in ks:
            ks.add(sql.COORDINATE_PART)
        keys.append(ks)
    return _run(con, rel, names, keys, sample=sample if sample and total > sample else None, seed=seed,
                today=today, total=total)


def _run(con, rel: str, names: list[str], keys: list[set[str]], *, sample: int | None, seed: int, today: dt.date,
         total: int) -> list[dict]:
    """Per column: the non-empty count, the count per detector and a few extra statistics, in one statement over
    the table or over a sample of it."""
    src = ", ".join(f"{quote_ident(n)} AS c{i}" for i, n in enumerate(names))
    raws = [f"c{i}" for i in range(len(names))]
    if not sample:
        query, cols = sql.pipeline(f"(SELECT {src} FROM {rel})", raws, today, keys=keys)
        return _aggregate(con, query, cols, total)
    # The sample is materialised (as Arrow) and scanned from there: straight off a sampling operator, each
    # vector holds a tenth of its rows and the per-vector cost of ~100 expressions dominates; a reservoir's
    # output is also read by one thread only. Bernoulli streams; the sample holds about `sample` rows.
    sampled = con.sql(f"SELECT {src} FROM {rel} USING SAMPLE bernoulli({100 * sample / total:.6f}%)"
                          f" REPEATABLE ({int(seed)})").to_arrow_table()
    cur = con.cursor()  # its own connection: the registration is not seen by (and cannot clash with) the caller's
    try:
        cur.register("pdzone_pii_sample", sampled)
        query, cols = sql.pipeline("pdzone_pii_sample", raws, today, keys=keys)
        return _aggregate(cur, query, cols, total)
    finally:
        cur.close()


def _aggregate(con, query: str, cols: list[dict], total: int) -> list[dict]:
    """Counts per column over the stages' query."""
    aggs = ["count(*)"]
    layout = []
    for nm in cols:
        present = [k for k in sql.KEYS if f"f_{k}" in nm]
        # count_if, not count(*) FILTER: a filtered aggregate copies its input for every filter.
        aggs += [f"count({nm['v']})", *(f"count_if({nm['f_' + k]})" for k in present)]
        extra = []
        if T.resident_id.value in present:
            extra.append(("regions", f"histogram(CASE WHEN {nm['f_resident_id']} THEN left({nm['d']}, 6) END)"))
        if T.bank_card.value in present:
            extra.append(("unionpay", f"count_if({nm['f_bank_card']} AND prefix({nm['d']}, '62'))"))
        if T.birth_date.value in present:
            born, bd = nm["f_birth_date"], nm["bd"]
            extra += [("year_sd", f"stddev_pop(CASE WHEN {born} THEN year({bd}) END)"),
                      ("born_min", f"min(CASE WHEN {born} THEN {bd} END)"),
                      ("born_max", f"max(CASE WHEN {born} THEN {bd} END)")]
        aggs += [e for _, e in extra]
        layout.append((present, [k for k, _ in extra]))
    row = con.execute(f"SELECT {', '.join(aggs)} FROM ({query}) p").fetchall()[0]
    assert row is not None
    rows = row[0]
    out, pos = [], 1
    for present, extra_keys in layout:
        st: dict = {"rows": rows, "total": total, "sampled": total > rows, "nonnull": row[pos],
                    "counts": {k: c or 0 for k, c in zip(present, row[pos + 1: pos + 1 + len(present)], strict=True)},
                    "regions": {}, "unionpay": 0, "year_sd": None, "born_min": None, "born_max": None}
        pos += 1 + len(present)
        for k in extra_keys:
            st[k] = row[pos] if row[pos] is not None else st[k]
            pos += 1
        out.append(st)
    return out


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _finding(name: str, hint: Hints, st: dict) -> ColumnFinding:
    """Counts to a finding. Confidence per type, from 0 to 1:

    - the match rate times the detector's strength: 1.0 for check digits (look-alikes pass 1/10 to 1/31 of
      the time), 0.95 for formats, 0.85 for heuristics (surnames, address words, dates);
    - dates count half unless the name says birth or the years spread like a population's (sd >= 5 years);
    - a name or description that points at the type closes half the remaining gap, when at least half the
      values match; one that points elsewhere, or at a business number (订单号), takes off a tenth;
    - times n / (n + 10) for n non-empty values, so that three matching values are no proof.

    The best type is chosen when its confidence reaches `MIN_CONFIDENCE`.
    """
    nonnull = st["nonnull"]
    rates = {str(k): c / nonnull for k, c in st["counts"].items() if nonnull and c}
    rate = {t: rates.get(t, 0.0) for t in PRIORITY}
    if T.coordinates in hint.types:  # a 经度 or 纬度 column on its own
        rate[T.coordinates] = max(rate[T.coordinates], rates.get(sql.COORDINATE_PART, 0.0))
    conf: dict[PiiType, float] = {}
    notes: dict[PiiType, list[Evidence]] = {t: [] for t in PRIORITY}
    for t in PRIORITY:
        strength = 1.0 if t in CHECK_DIGIT_TYPES else 0.85 if t in HEURISTIC_TYPES else 0.95
        c = rate[t] * strength
        if t == T.birth_date and rate[t] and T.birth_date not in hint.types and (st["year_sd"] or 0) < 5:
            c *= 0.5
            notes[t].append(Evidence("dates_not_births", "日期分布集中，不像出生日期（列名也未表明）",
                                     "dates cluster within a few years and the column name does not say birth"))
        if t in hint.types and rate[t] >= 0.5:
            c += (1 - c) * 0.5
        elif rate[t] and (hint.not_personal or (hint.types and t not in hint.types)):
            c *= 0.9
        conf[t] = c * nonnull / (nonnull + 10)
    best, runner = sorted(PRIORITY, key=lambda t: (-conf[t], PRIORITY.index(t)))[:2]
    if not nonnull:
        evidence = [Evidence("empty", "没有非空值", "no non-empty values")]
    else:
        evidence = _evidence(best, rate[best], hint, st) + notes[best] if conf[best] > 0 else []
    return ColumnFinding(
        column=name, pii_type=best if conf[best] >= MIN_CONFIDENCE else None, match_rate=round(rate[best], 6),
        confidence=round(conf[best], 4), evidence=evidence, scanned=nonnull, rows=st["rows"],
        sampled=st["sampled"], rates={k: round(v, 6) for k, v in rates.items()},
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
    if t == T.bank_card and st["counts"].get(T.bank_card):
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
