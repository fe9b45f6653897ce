"""PII detection: scan speed on a 1,000,000-row x 10-column table, and quality on a labeled corpus.

Targets (issue): a scan of 1M x 10 in <= 3 s on a 2-core machine (sampling allowed where the quality holds;
the full scan is reported too); precision and recall >= 0.99 for check-digit types, >= 0.95 for names and
addresses. The in-run baseline is the plain-regex floor: 11 regular expressions (one per identifier
shape, no check digits, no guards) over the same 10M cells in DuckDB; python-stdnum's per-number cost is
measured beside our per-value SQL cost.

The corpus is deterministic (Faker zh_CN seeded, own generators with check digits from python-stdnum) and
holds near-misses: wrong check digits, impossible birth dates, 18-digit order numbers, 11-digit numbers
that are not phones, cards failing Luhn, city/district/ethnic/company names, organisations with place
words, recent event dates, malformed IPs and emails. IDs with withdrawn region codes are positives.

    python bench/pii_scan.py                       # speed (1,000,000 rows) and quality
    PDZONE_BENCH_ROWS=200000 python bench/pii_scan.py
    PDZONE_BENCH_PART=quality python bench/pii_scan.py
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import string
import time
from collections import Counter

import duckdb
import pyarrow as pa
from faker import Faker
from stdnum import luhn, numdb
from stdnum.cn import ric, uscc

from pdzone.protect.detect import PiiType, scan, values_sql
from pdzone.protect.detect.sql import USCC_ALPHABET

T = PiiType
N_ROWS = int(os.environ.get("PDZONE_BENCH_ROWS", "1000000"))
PART = os.environ.get("PDZONE_BENCH_PART", "all")
TODAY = dt.date(2025, 6, 1)  # fixed, so the corpus and its labels do not drift with the calendar


# ---------------------------------------------------------------- generators (valid and near-miss values)

def _regions() -> tuple[list[str], list[str]]:
    """County codes from python-stdnum's table: (in use, withdrawn)."""
    current, withdrawn = [], []
    for _len, prov, _hi, _props, children in numdb.get("cn/loc").prefixes:
        for _l, lo, hi, props, _c in children:
            if lo != hi or lo.endswith("00"):
                continue
            county = props.get("county", "")
            if county.startswith("[") and not county.split("]")[0].endswith("-"):
                withdrawn.append(prov + lo)
            elif not county.startswith("["):
                current.append(prov + lo)
    return current, withdrawn


class Gen:
    """Seeded value generators; each returns one string."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.f = Faker("zh_CN")
        self.f.seed_instance(seed)
        self.current, self.withdrawn = _regions()

    def digits(self, n: int) -> str:
        return "".join(self.r.choice(string.digits) for _ in range(n))

    # resident ID numbers
    def rid(self, *, withdrawn: bool = False) -> str:
        region = self.r.choice(self.withdrawn if withdrawn else self.current)
        born = dt.date(1930, 1, 1) + dt.timedelta(days=self.r.randrange(27394))  # to 2004-12-31
        body = region + born.strftime("%Y%m%d") + self.digits(3)
        number = body + ric.calc_check_digit(body + "0")
        return number.lower() if number.endswith("X") and self.r.random() < 0.1 else number

    def rid_bad_check(self) -> str:
        good = self.rid()
        return good[:17] + self.r.choice([c for c in "0123456789X" if c != good[17].upper()])

    def rid_bad_date(self) -> str:
        region = self.r.choice(self.current)
        y, m, d = self.r.choice([(1990, 2, 30), (1985, 13, 1), (1979, 4, 31), (2001, 0, 12), (2031, 5, 5),
                                 (1850, 3, 3), (1999, 2, 29), (1972, 6, 0)])
        body = f"{region}{y:04d}{m:02d}{d:02d}{self.digits(3)}"
        return body + ric.calc_check_digit(body + "0")

    def order18(self) -> str:
        if self.r.random() < 0.5:
            day = TODAY - dt.timedelta(days=self.r.randrange(2000))
            return day.strftime("%Y%m%d") + self.digits(10)
        return str(self.r.randrange(10 ** 17, 10 ** 18))

    # USCC
    def uscc(self) -> str:
        head = self.r.choice(["91", "92", "93", "11", "12", "51", "52", "53"]) + self.r.choice(self.current)
        body = head + "".join(self.r.choice(USCC_ALPHABET) for _ in range(9))
        return body + uscc.calc_check_digit(body)

    def uscc_bad(self) -> str:
        good = self.uscc()
        return good[:17] + self.r.choice([c for c in USCC_ALPHABET if c != good[17]])

    # phones
    def mobile(self) -> str:
        number = self.f.phone_number()
        style = self.r.random()
        if style < 0.1:
            return "+86 " + number
        if style < 0.2:
            return f"{number[:3]}-{number[3:7]}-{number[7:]}"
        if style < 0.3:
            return f"{number[:3]} {number[3:7]} {number[7:]}"
        return number

    def not_phone11(self) -> str:
        """11 digits that no mobile number starts with (10, 11, 12, 2-9): account and serial numbers."""
        head = self.r.choice(["10", "11", "12", "2", "3", "5", "6", "8", "9"])
        return head + self.digits(11 - len(head))

    def landline(self) -> str:
        area = self.r.choice(["010", "021", "022", "023", "020", "024", "025", "027", "028", "029", "0311", "0371",
                              "0571", "0755", "0531", "0851", "0991"])
        sub = self.r.choice("2345678") + self.digits(7 if len(area) == 3 or self.r.random() < 0.5 else 6)
        style = self.r.random()
        if style < 0.5:
            out = f"{area}-{sub}"
        elif style < 0.7:
            out = f"({area}){sub}"
        elif style < 0.8:
            out = f"+86-{area[1:]}-{sub}"
        else:
            out = area + sub
        return out + (f"-{self.r.randrange(1, 9999)}" if self.r.random() < 0.1 else "")

    def landline_bad(self) -> str:
        return self.r.choice([f"000-{self.digits(8)}", f"010-{self.digits(6)}",
                              f"{self.r.choice('2345678')}{self.digits(6)}",
                              f"021-1{self.digits(7)}", f"0{self.digits(3)}"])

    # cards
    def card(self) -> str:
        bin_, length = self.r.choice([("622202", 19), ("621700", 19), ("622848", 19), ("621661", 19),
                                      ("622588", 16), ("625", 16), ("436742", 16), ("524094", 16), ("356833", 16),
                                      ("955880", 19), ("623", 19), ("628", 16)])
        body = bin_ + self.digits(length - len(bin_) - 1)
        number = body + luhn.calc_check_digit(body)
        return " ".join(number[i:i + 4] for i in range(0, len(number), 4)) if self.r.random() < 0.15 else number

    def card_bad(self) -> str:
        good = self.card().replace(" ", "")
        return good[:-1] + self.r.choice([c for c in string.digits if c != good[-1]])

    # the rest
    def email(self) -> str:
        return self.r.choice([self.f.email, self.f.free_email, self.f.company_email])()

    def email_bad(self) -> str:
        user = self.f.user_name()
        return self.r.choice([f"{user} at example.com", f"{user}@localhost", f"@{self.f.domain_name()}",
                              f"{user}@@{self.f.domain_name()}", f"{user}.example.com"])

    def plate(self) -> str:
        prov = self.r.choice("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼")
        letter = self.r.choice("ABCDEFGHJKLMNPQRSTUVWXY")
        chars = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
        kind = self.r.random()
        if kind < 0.5:
            serial = "".join(self.r.choice(chars) for _ in range(5))
        elif kind < 0.8:
            serial = self.r.choice("DF") + self.r.choice(chars) + self.digits(4)
        elif kind < 0.9:
            serial = self.digits(5) + self.r.choice("DF")
        else:
            serial = "".join(self.r.choice(chars) for _ in range(4)) + self.r.choice("学警挂")
        return prov + letter + self.r.choice(["", "", "·", "-", " "]) + serial

    def plate_bad(self) -> str:
        prov = self.r.choice("京沪粤川")
        return self.r.choice([f"{prov}A{self.digits(4)}", f"AB{self.digits(5)}", f"{prov}A{self.digits(8)}",
                              f"{prov}AI{self.digits(4)}O", f"甲A{self.digits(5)}"])

    def passport(self) -> str:
        return self.r.choice([f"E{self.digits(8)}", f"E{self.r.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{self.digits(7)}",
                              f"G{self.digits(8)}", f"P{self.digits(7)}", f"S{self.digits(7)}", f"D{self.digits(7)}"])

    def passport_bad(self) -> str:
        return self.r.choice([f"E{self.digits(6)}", f"X{self.digits(8)}", f"EO{self.digits(7)}",
                              f"SKU{self.digits(6)}", f"E{self.digits(10)}"])

    def name(self) -> str:
        style = self.r.random()
        if style < 0.04:
            return self.r.choice(["欧阳", "司马", "上官", "诸葛", "东方", "皇甫"]) + self.f.first_name()
        if style < 0.06:
            first, last = ["买买提", "阿依古丽", "艾力", "古丽"], ["艾则孜", "吐尔逊", "买买提"]
            return self.r.choice(first) + "·" + self.r.choice(last)
        return self.f.name()

    def not_name(self) -> str:
        return self.r.choice([
            self.f.city, self.f.province, lambda: self.f.district() + "区", self.f.company, self.f.job,
            lambda: self.r.choice(["汉族", "回族", "满族", "壮族", "维吾尔族", "蒙古族"]),
            lambda: self.r.choice(["本科", "硕士研究生", "大专", "高中", "博士"]),
            lambda: self.r.choice(["已婚", "未婚", "离异", "丧偶"]),
            lambda: self.r.choice(["正常", "注销", "冻结", "待审核", "已完成"]),
            lambda: self.f.word() + self.f.word(),
        ])()

    def address(self) -> str:
        if self.r.random() < 0.6:
            return self.f.address()
        return (f"{self.f.province()}{self.f.city()}{self.f.district()}区{self.f.street_name()}"
                f"{self.r.randrange(1, 999)}号{self.r.randrange(1, 30)}栋{self.r.randrange(1, 6)}单元"
                f"{self.r.randrange(101, 3300)}室")

    def not_address(self) -> str:
        return self.r.choice([
            self.f.company, lambda: f"{self.f.city()}{self.f.district()}区人民医院",
            lambda: f"{self.f.city()}人民政府", lambda: f"{self.f.province()}{self.f.city()}",
            lambda: f"{self.f.city()}分行营业部", self.f.sentence, lambda: f"{self.f.city()}第一中学",
        ])()

    def birth(self) -> str:
        d = self.f.date_between(dt.date(1935, 1, 1), dt.date(2020, 12, 31))
        return self.r.choice([d.isoformat(), f"{d.year}/{d.month}/{d.day}", f"{d.year}年{d.month}月{d.day}日",
                              d.strftime("%Y%m%d"), d.strftime("%Y.%m.%d"), f"{d.isoformat()} 00:00:00"])

    def event_date(self) -> str:
        d = TODAY - dt.timedelta(days=self.r.randrange(900))
        at = f"{self.r.randrange(24):02d}:{self.r.randrange(60):02d}:00"
        return self.r.choice([d.isoformat(), f"{d.isoformat()} {at}",
                              d.strftime("%Y/%m/%d")])

    def ip(self) -> str:
        return self.r.choice([self.f.ipv4, self.f.ipv4_private, self.f.ipv4_public, self.f.ipv6])()

    def ip_bad(self) -> str:
        return self.r.choice([f"{self.r.randrange(256, 999)}.1.2.3",
                              f"{self.r.randrange(1, 9)}.{self.r.randrange(30)}.1",
                              f"10.0.0.0.{self.r.randrange(9)}", f"v{self.r.randrange(9)}.{self.r.randrange(20)}.3",
                              "12:30:45", f"{self.r.randrange(9)}.{self.r.randrange(9)}"])

    def coords(self) -> str:
        lon, lat = self.r.uniform(73.5, 135.0), self.r.uniform(18.0, 53.5)
        return self.r.choice([f"{lon:.6f},{lat:.6f}", f"{lat:.5f}, {lon:.5f}", f"POINT({lon:.6f} {lat:.6f})",
                              f"({lon:.4f},{lat:.4f})"])

    def coords_bad(self) -> str:
        return self.r.choice([f"{self.r.uniform(0, 999):.2f},{self.r.uniform(0, 99):.2f}",
                              f"{self.r.uniform(200, 400):.6f},{self.r.uniform(100, 180):.6f}",
                              f"{self.r.randrange(100)},{self.r.randrange(100)}"])

    def lat(self) -> str:
        return f"{self.r.uniform(18.0, 53.5):.6f}"

    def lon(self) -> str:
        return f"{self.r.uniform(73.5, 135.0):.6f}"

    # not personal at all
    def amount(self) -> str:
        return f"{self.r.uniform(0, 100000):.2f}"

    def code(self) -> str:
        return self.r.choice(["SKU-", "PO", "INV", "A"]) + self.digits(self.r.randrange(4, 12))

    def text(self) -> str:
        return self.f.sentence()

    def integer(self) -> str:
        return str(self.r.randrange(0, 10 ** self.r.randrange(1, 12)))


# kind -> (generator method, true column type, per-value label, column names to draw from)
KINDS: dict[str, tuple[str, T | None, T | str | None, list[str]]] = {
    "rid": ("rid", T.resident_id, T.resident_id, ["身份证号", "公民身份号码", "sfzh", "证件号码", "col", "订单号"]),
    "rid_withdrawn": ("rid_withdrawn", T.resident_id, T.resident_id, ["身份证号", "zjhm", "col"]),
    "rid_bad_check": ("rid_bad_check", None, None, ["身份证号", "col", "编号"]),
    "rid_bad_date": ("rid_bad_date", None, None, ["身份证号", "col"]),
    "order18": ("order18", None, None, ["订单号", "身份证号", "流水号", "col"]),
    "uscc": ("uscc", T.uscc, T.uscc, ["统一社会信用代码", "信用代码", "tyshxydm", "col"]),
    "uscc_bad": ("uscc_bad", None, None, ["统一社会信用代码", "col"]),
    "mobile": ("mobile", T.mobile, T.mobile, ["手机号", "联系电话", "sjhm", "col", "备注"]),
    "not_phone11": ("not_phone11", None, None, ["手机号", "编号", "col"]),
    "landline": ("landline", T.landline, T.landline, ["固定电话", "办公电话", "电话", "col"]),
    "landline_bad": ("landline_bad", None, None, ["电话", "col"]),
    "card": ("card", T.bank_card, T.bank_card, ["银行卡号", "账号", "card_no", "col"]),
    "card_bad": ("card_bad", None, None, ["银行卡号", "col", "流水号"]),
    "email": ("email", T.email, T.email, ["电子邮箱", "email", "col"]),
    "email_bad": ("email_bad", None, None, ["邮箱", "col"]),
    "plate": ("plate", T.plate, T.plate, ["车牌号", "hphm", "col"]),
    "plate_bad": ("plate_bad", None, None, ["车牌号", "col"]),
    "passport": ("passport", T.passport, T.passport, ["护照号码", "passport_no", "col"]),
    "passport_bad": ("passport_bad", None, None, ["护照号码", "col", "商品编码"]),
    "name": ("name", T.person_name, T.person_name, ["姓名", "联系人", "name", "col", "xm"]),
    "not_name": ("not_name", None, None, ["名称", "类别", "col", "姓名"]),
    "address": ("address", T.address, T.address, ["地址", "住址", "address", "col"]),
    "not_address": ("not_address", None, None, ["单位名称", "col", "地址"]),
    "birth": ("birth", T.birth_date, T.birth_date, ["出生日期", "生日", "日期", "col"]),
    "event_date": ("event_date", None, "skip", ["交易日期", "日期", "col"]),
    "ip": ("ip", T.ip_address, T.ip_address, ["IP地址", "client_ip", "col"]),
    "ip_bad": ("ip_bad", None, None, ["版本号", "col"]),
    "coords": ("coords", T.coordinates, T.coordinates, ["经纬度", "坐标", "location", "col"]),
    "coords_bad": ("coords_bad", None, None, ["金额对", "col"]),
    "lat": ("lat", T.coordinates, "skip", ["纬度", "lat"]),
    "lon": ("lon", T.coordinates, "skip", ["经度", "lng"]),
    "amount": ("amount", None, None, ["金额", "col"]),
    "code": ("code", None, None, ["商品编码", "col"]),
    "text": ("text", None, None, ["备注", "说明", "col"]),
    "integer": ("integer", None, None, ["数量", "col"]),
}
Gen.rid_withdrawn = lambda self: self.rid(withdrawn=True)  # type: ignore[attr-defined]


def corpus(seed: int = 20250601, columns_per_kind: int = 30, rows: int = 300):
    """Columns of `rows` values: (column name, kind, true type, values, per-value labels)."""
    g = Gen(seed)
    r = random.Random(seed)
    out = []
    for kind, (method, col_type, val_label, names) in KINDS.items():
        make = getattr(g, method)
        for c in range(columns_per_kind):
            values, labels = [], []
            blank = r.choice([0.0, 0.0, 0.05, 0.2])
            junk = r.choice([0.0, 0.0, 0.01, 0.03]) if col_type else 0.0
            for _ in range(rows):
                x = r.random()
                if x < blank:
                    values.append(r.choice([None, "", "无", "-", "NULL"]))
                    labels.append("skip")
                elif x < blank + junk:
                    values.append(r.choice(["不详", "待补充", "见附件", "123", "N/A", "?", "0000"]))
                    labels.append(None)
                else:
                    values.append(make())
                    labels.append(val_label)
            name = names[c % len(names)]
            out.append((f"{name}_{c}" if name == "col" else name, kind, col_type, values, labels))
    return out


# ---------------------------------------------------------------- quality

def quality() -> None:
    t0 = time.perf_counter()
    cols = corpus()
    gen_s = time.perf_counter() - t0
    con = duckdb.connect()
    # Column level: tables of up to 50 columns, each scanned whole (the corpus is small).
    truth, pred = [], []
    t0 = time.perf_counter()
    for start in range(0, len(cols), 50):
        chunk = cols[start:start + 50]
        names = [c[0] for c in chunk]
        uniq = [f"{n}#{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]
        con.register("chunk", pa.table({u: c[3] for u, c in zip(uniq, chunk, strict=True)}))
        con.execute("CREATE OR REPLACE TABLE 语料 AS SELECT * FROM chunk")
        con.unregister("chunk")
        for c, f in zip(chunk, scan(con, "语料", [(u, None) for u in uniq], sample=None, today=TODAY), strict=True):
            truth.append((c[1], c[2]))
            pred.append(f.pii_type)
    scan_s = time.perf_counter() - t0
    print(f"\ncorpus: {len(cols)} columns x {len(cols[0][3])} values, {len(KINDS)} kinds incl. near-misses "
          f"(generated in {gen_s:.1f} s, scanned in {scan_s:.1f} s)")
    _table("per column", [t for _, t in truth], pred)
    wrong = Counter((k, t, p) for (k, t), p in zip(truth, pred, strict=True) if t != p)
    if wrong:
        print("  misclassified (kind: truth -> predicted x count): "
              + ", ".join(f"{k}: {t} -> {p} x{n}" for (k, t, p), n in wrong.items()))
    # Value level: every labeled value through the same detectors.
    vals = [(v, lab, ci) for ci, c in enumerate(cols) for v, lab in zip(c[3], c[4], strict=True) if lab != "skip"]
    con.register("vals", pa.table({"v": [v for v, _, _ in vals], "i": list(range(len(vals)))}))
    t0 = time.perf_counter()
    rows = con.execute(f"SELECT * FROM ({values_sql('vals', 'v', today=TODAY, keep=('i',))}) ORDER BY i").fetchall()
    value_s = time.perf_counter() - t0
    print(f"\nvalues: {len(vals):,} labeled, classified in {value_s:.2f} s (birth dates and lone lat/lon values "
          "are told apart per column only, and left out here)")
    flags = con.execute(f"SELECT * FROM ({values_sql('vals', 'v', today=TODAY, keep=('i',))}) LIMIT 0").description
    names = [d[0] for d in flags]
    alone, in_col = [], []
    for (_v, _lab, ci), row in zip(vals, rows, strict=True):
        rec = dict(zip(names, row, strict=True))
        alone.append(T(rec["pii_type"]) if rec["pii_type"] else None)
        col_type = pred[ci]
        in_col.append(col_type if col_type and rec[col_type.value] else None)
    labels = [lab for _, lab, _ in vals]
    _table("per value, in its column (masking a classified column)", labels, in_col)
    _table("per value, alone (most specific shape; check digits pass 1/10 to 1/31 of look-alikes)", labels, alone,
           targets=False)
    # Sampling keeps the quality: the same columns, each value repeated 10 times (shuffled), 1,000 rows sampled.
    r = random.Random(1)
    t0 = time.perf_counter()
    spred = []
    for start in range(0, len(cols), 50):
        chunk = cols[start:start + 50]
        names = [c[0] for c in chunk]
        uniq = [f"{n}#{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]
        data = {}
        for u, c in zip(uniq, chunk, strict=True):
            data[u] = c[3] * 10
            r.shuffle(data[u])
        con.register("chunk", pa.table(data))
        con.execute("CREATE OR REPLACE TABLE 语料 AS SELECT * FROM chunk")
        con.unregister("chunk")
        spred += [f.pii_type for f in scan(con, "语料", [(u, None) for u in uniq], sample=1000, today=TODAY)]
    _table(f"per column, sampled (about 1,000 of {len(cols[0][3]) * 10:,} rows; {time.perf_counter() - t0:.1f} s)",
           [t for _, t in truth], spred)


def _table(title: str, truth: list, pred: list, *, targets: bool = True) -> None:
    tp, fp, fn = Counter(), Counter(), Counter()
    for t, p in zip(truth, pred, strict=True):
        if t == p and t is not None:
            tp[t] += 1
        else:
            if p is not None:
                fp[p] += 1
            if t is not None:
                fn[t] += 1
    head = f"{'':<13}{'TP':>7}{'FP':>6}{'FN':>6}{'precision':>11}{'recall':>8}"
    print(f"\n{title}\n{head}" + ("  target" if targets else ""))
    for t in T:
        if not (tp[t] or fp[t] or fn[t]):
            continue
        prec = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 1.0
        rec = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 1.0
        target = 0.99 if t in (T.resident_id, T.uscc, T.bank_card) else 0.95 if t in (T.person_name, T.address) \
            else None
        mark = ""
        if target is not None and targets:
            mark = f"  >= {target}" + ("  ok" if min(prec, rec) >= target else "  MISSED")
        print(f"{t.value:<13}{tp[t]:>7}{fp[t]:>6}{fn[t]:>6}{prec:>11.4f}{rec:>8.4f}{mark}")


# ---------------------------------------------------------------- speed

def build_table(con: duckdb.DuckDBPyConnection, n: int) -> None:
    """n rows x 10 columns drawn from pools of generated values (Faker and stdnum are too slow for 1M)."""
    g = Gen(7)
    pool = 20_000
    pools = {
        "身份证号": g.rid, "姓名": g.name, "手机号": g.mobile, "地址": g.address, "电子邮箱": g.email,
        "银行卡号": g.card, "出生日期": g.birth, "订单号": g.order18, "金额": g.amount, "备注": g.text,
    }
    for i, make in enumerate(pools.values()):
        con.register("p", pa.table({"v": [make() for _ in range(pool)]}))
        con.execute(f'CREATE OR REPLACE TEMP TABLE pool{i} AS SELECT row_number() OVER () - 1 AS i, v FROM p')
        con.unregister("p")
    cols = ", ".join(f'p{i}.v AS "{name}"' for i, name in enumerate(pools))
    joins = " ".join(f"JOIN pool{i} p{i} ON p{i}.i = hash(r.r, {i}) % {pool}" for i in range(len(pools)))
    con.execute(f"CREATE OR REPLACE TABLE 人员 AS SELECT {cols} FROM range({n}) r(r) {joins} ORDER BY r.r")


BASELINE_PATTERNS = [
    r"\d{17}[\dXx]", r"\d{8}[0-9A-HJ-NPQRTUWXY]{10}", r"1[3-9]\d{9}", r"0\d{2,3}-?\d{7,8}", r"\d{16,19}",
    r"[\w.%+-]+@[\w.-]+\.[A-Za-z]{2,}",
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z][-·]?[A-Z0-9]{5,6}",
    r"[EGDSP]\d{7,8}", r"(\d{1,3}\.){3}\d{1,3}", r"\d{4}-\d{1,2}-\d{1,2}", r"-?\d{1,3}\.\d+,\s*-?\d{1,3}\.\d+",
]


def baseline(con: duckdb.DuckDBPyConnection) -> None:
    """11 plain regular expressions over every cell: no check digits, no guards, no sampling."""
    cols = [r[0] for r in con.execute("DESCRIBE 人员").fetchall()]
    aggs = ", ".join(f"count_if(regexp_full_match(\"{c}\", '{p}'))" for c in cols for p in BASELINE_PATTERNS)
    con.execute(f"SELECT {aggs} FROM 人员").fetchall()


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def speed() -> None:
    con = duckdb.connect()
    t0 = time.perf_counter()
    build_table(con, N_ROWS)
    print(f"table 人员: {N_ROWS:,} rows x 10 columns ({N_ROWS * 10:,} cells), built in "
          f"{time.perf_counter() - t0:.1f} s; DuckDB {duckdb.__version__}, threads "
          f"{con.execute('SELECT current_setting(' + repr('threads') + ')').fetchall()[0][0]}")
    # Interleave the three so that machine noise hits them alike; medians.
    base, sampled, full = [], [], []
    for _ in range(5):
        base += timed(lambda: baseline(con), 1)
        sampled += timed(lambda: scan(con, "人员"), 1)
        if len(full) < 3:
            full += timed(lambda: scan(con, "人员", sample=None), 1)
    b, s, f = (statistics.median(x) for x in (base, sampled, full))
    print(f"\n{'':<40}{'median s':>9}{'vs baseline':>13}")
    print(f"{'baseline: 11 regexes over all cells':<40}{b:>9.2f}{1:>13.2f}")
    print(f"{'scan, sampled (100,000 rows)':<40}{s:>9.2f}{s / b:>13.2f}   target <= 3 s: "
          f"{'ok' if s <= 3 else 'MISSED'}")
    print(f"{'scan, full':<40}{f:>9.2f}{f / b:>13.2f}")
    full_f, sampled_f = scan(con, "人员", sample=None), scan(con, "人员")
    print("  full-scan findings: " + ", ".join(f"{x.column}={x.pii_type.value if x.pii_type else '-'}"
                                              f"({x.match_rate:.1%})" for x in full_f))
    same = sum(a.pii_type == b.pii_type for a, b in zip(full_f, sampled_f, strict=True))
    drift = max(abs(a.match_rate - b.match_rate) for a, b in zip(full_f, sampled_f, strict=True))
    print(f"  sampled scan ({sampled_f[0].rows:,} rows) types {same}/{len(full_f)} columns as the full scan does; "
          f"match rates differ by {drift:.2%} at most")
    # Per value: our SQL check (GB 11643 + birth date) against python-stdnum, on the same ID numbers.
    ids = [g for (g,) in con.execute('SELECT "身份证号" FROM 人员 LIMIT 20000').fetchall()]
    t0 = time.perf_counter()
    for x in ids:
        ric.is_valid(x)
    stdnum_us = (time.perf_counter() - t0) / len(ids) * 1e6
    q = f"SELECT count_if(resident_id) FROM ({values_sql('人员', chr(34) + '身份证号' + chr(34))})"
    sql_s = statistics.median(timed(lambda: con.execute(q).fetchall(), 3))
    sql_us = sql_s / N_ROWS * 1e6
    print(f"\nper ID number: python-stdnum {stdnum_us:.1f} us (one Python call each), SQL {sql_us:.3f} us "
          f"(all stages of one column, {N_ROWS:,} values) -> {stdnum_us / sql_us:.0f}x")


def main() -> None:
    if PART in ("all", "speed"):
        speed()
    if PART in ("all", "quality"):
        quality()


if __name__ == "__main__":
    main()
