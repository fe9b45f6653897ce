"""The kinds of personal information the detector knows, and how they group."""

from __future__ import annotations

from enum import StrEnum


class PiiType(StrEnum):
    """A kind of personal (or, for USCC, organisational) identifier found in a column."""

    resident_id = "resident_id"  # 居民身份证号码, GB 11643
    uscc = "uscc"  # 统一社会信用代码, GB 32100
    mobile = "mobile"  # 手机号码
    landline = "landline"  # 固定电话
    bank_card = "bank_card"  # 银行卡号 (Luhn)
    email = "email"  # 电子邮箱
    plate = "plate"  # 机动车号牌, incl. new-energy plates (8 characters)
    passport = "passport"  # 护照号码 (PRC passports)
    person_name = "person_name"  # 姓名
    address = "address"  # 地址
    birth_date = "birth_date"  # 出生日期
    ip_address = "ip_address"  # IP 地址
    coordinates = "coordinates"  # 经纬度


# Identify a natural person on their own (GB/T 37964 calls these 直接标识符). The USCC identifies an
# organisation, not a person, so it is not among them.
DIRECT_IDENTIFIERS: frozenset[PiiType] = frozenset({
    PiiType.resident_id, PiiType.passport, PiiType.bank_card, PiiType.mobile, PiiType.landline,
    PiiType.email, PiiType.plate, PiiType.person_name,
})

# Identify a person in combination (准标识符).
QUASI_IDENTIFIERS: frozenset[PiiType] = frozenset({
    PiiType.birth_date, PiiType.address, PiiType.ip_address, PiiType.coordinates,
})

# Personal information whose leak harms most (PIPL art. 28: financial accounts, whereabouts; ID numbers
# and passports by common practice).
SENSITIVE_IDENTIFIERS: frozenset[PiiType] = frozenset({PiiType.resident_id, PiiType.passport, PiiType.bank_card})

# Types decided by a check digit: random look-alikes pass with probability 1/10 (Luhn), 1/11 (GB 11643)
# or 1/31 (GB 32100), so a high match rate is near-proof.
CHECK_DIGIT_TYPES: frozenset[PiiType] = frozenset({PiiType.resident_id, PiiType.uscc, PiiType.bank_card})

# Types decided by heuristics (surname lists, address words, the spread of dates): weaker evidence.
HEURISTIC_TYPES: frozenset[PiiType] = frozenset({PiiType.person_name, PiiType.address, PiiType.birth_date})

# When one value matches several detectors, the first here names it (most specific first).
PRIORITY: tuple[PiiType, ...] = (
    PiiType.resident_id, PiiType.uscc, PiiType.bank_card, PiiType.mobile, PiiType.landline, PiiType.email,
    PiiType.ip_address, PiiType.coordinates, PiiType.plate, PiiType.passport, PiiType.birth_date,
    PiiType.address, PiiType.person_name,
)
