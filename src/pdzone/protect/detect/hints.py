"""Column names and descriptions as extra evidence (身份证号, sfzh, id_card_no ...).

A hint raises or lowers confidence; it never makes a type on its own: values decide (a column of 18-digit
order numbers named 身份证号 stays unclassified, one of ID numbers named 订单号 is still resident_id).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .pii import PiiType

T = PiiType

# Per type: Chinese substrings, and ASCII keywords matched as whole tokens (id_card matches id_card_no and
# idCard and idcard; pinyin initials such as sfzh, xm, csrq are common in government schemas).
_KEYWORDS: dict[PiiType, tuple[tuple[str, ...], tuple[str, ...]]] = {
    T.resident_id: (("身份证", "公民身份号码", "身份号码", "证件号", "证件编号"),
                    ("id_card", "id_number", "id_no", "sfz", "sfzh", "sfzhm", "zjhm", "citizen_id", "national_id",
                     "resident_id", "identity_card", "id_card_no", "ric")),
    T.uscc: (("统一社会信用代码", "社会信用代码", "信用代码", "营业执照号"),
             ("uscc", "tyshxydm", "shxydm", "credit_code", "social_credit_code", "unified_code")),
    T.mobile: (("手机", "移动电话", "联系电话", "联系方式", "电话"),
               ("mobile", "mobile_no", "phone", "cell", "cellphone", "sjh", "sjhm", "lxdh", "tel", "telephone")),
    T.landline: (("座机", "固定电话", "固话", "办公电话", "电话", "传真"),
                 ("landline", "tel", "telephone", "phone", "fax", "office_phone", "gddh")),
    T.bank_card: (("银行卡", "卡号", "银行账号", "账号", "银行账户", "借记卡", "信用卡", "开户账号"),
                  ("bank_card", "card_no", "card_number", "account_no", "acct_no", "bank_account", "yhkh", "yhzh",
                   "pan")),
    T.email: (("邮箱", "电子邮件", "邮件", "电邮"), ("email", "e_mail", "mail", "email_address", "dzyx")),
    T.plate: (("车牌", "号牌", "牌照"),
              ("plate", "plate_no", "license_plate", "car_no", "vehicle_no", "cph", "cphm", "hphm")),
    T.passport: (("护照",), ("passport", "passport_no", "hzh", "hzhm")),
    T.person_name: (("姓名", "名字", "联系人", "法定代表人", "法人代表", "负责人", "户主", "申请人", "经办人", "收件人",
                     "持卡人", "驾驶人", "当事人", "监护人", "患者"),
                    ("full_name", "real_name", "person_name", "contact_name", "customer_name", "user_name",
                     "first_name", "last_name", "family_name", "given_name", "xm", "xingming", "contact")),
    T.address: (("地址", "住址", "住所", "户籍地", "居住地", "所在地", "通讯地址"),
                ("address", "addr", "dz", "zz", "jzd", "hjdz", "home_address", "street")),
    T.birth_date: (("出生", "生日"), ("birth", "birthday", "dob", "date_of_birth", "birth_date", "csrq", "birthdate")),
    T.ip_address: (("IP地址", "ip地址"), ("ip", "ip_addr", "ip_address", "ipv4", "ipv6", "client_ip", "remote_addr",
                                          "src_ip")),
    T.coordinates: (("经纬度", "经度", "纬度", "坐标", "定位", "轨迹"),
                    ("lng", "lon", "lat", "longitude", "latitude", "coord", "coords", "coordinates", "gps", "geo",
                     "location")),
}
# "name" alone is a person's name only when it is the whole column name (product_name is not).
_EXACT: dict[str, PiiType] = {"name": T.person_name, "姓名": T.person_name}

# Business numbers that look like identifiers: 订单号 (18 digits), 流水号 ...
_NOT_PERSONAL = (("订单", "流水", "单号", "序号", "批次", "交易号", "商品", "产品", "金额", "票据", "合同号"),
                 ("order", "order_no", "serial", "seq", "sku", "txn", "trade_no", "batch", "product", "amount",
                  "trace_id", "invoice"))

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Hints:
    """What a column's name and description suggest."""

    types: frozenset[PiiType] = field(default_factory=frozenset)
    not_personal: bool = False
    words: tuple[str, ...] = ()  # the keywords that matched, for the evidence line


def _tokens(text: str) -> str:
    """`idCardNo`, `ID-card no.` -> `_id_card_no_` (ASCII tokens only, joined, fenced by underscores)."""
    parts = [p for p in _SPLIT.split(_CAMEL.sub("_", text).lower()) if p]
    return "_" + "_".join(parts) + "_"


def _matches(text: str, zh: tuple[str, ...], ascii_: tuple[str, ...]) -> list[str]:
    low = text.lower()
    toks = _tokens(text)
    glued = set(toks.strip("_").split("_")) | {toks.replace("_", "")}
    hits = [w for w in zh if w.lower() in low]
    hits += [w for w in ascii_ if f"_{w}_" in toks or w.replace("_", "") in glued]
    return hits


def hints(name: str, description: str | None = None) -> Hints:
    """The types a column's name and description point at. Where one keyword holds another (id_card_no holds
    card_no, 联系电话 holds 电话, IP地址 holds 地址), the longer one speaks."""
    matches: list[tuple[PiiType, str]] = []
    for text in (name, description or ""):
        if not text:
            continue
        exact = _EXACT.get(text.strip().lower())
        if exact:
            matches.append((exact, text.strip()))
        for t, (zh, ascii_) in _KEYWORDS.items():
            matches += [(t, w) for w in _matches(text, zh, ascii_)]
    kept = [(t, w) for t, w in matches
            if not any(t2 != t and w != w2 and w.lower() in w2.lower() for t2, w2 in matches)]
    found = {t for t, _ in kept}
    words = [w for _, w in kept]
    # 邮件地址 and IP 地址 are not postal addresses.
    if found & {T.email, T.ip_address}:
        found.discard(T.address)
    not_personal = False
    if not found:
        for text in (name, description or ""):
            hit = _matches(text, *_NOT_PERSONAL) if text else []
            if hit:
                not_personal = True
                words += hit
    return Hints(frozenset(found), not_personal, tuple(dict.fromkeys(words)))
