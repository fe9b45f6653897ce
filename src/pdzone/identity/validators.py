"""Real-name identifiers: resident ID number (GB 11643), USCC (GB 32100), mobile number.

"Valid" for an ID number means its check digit and a real birth date. An unknown or since-renamed
region code is a *warning*, never a rejection: county codes change and people keep their numbers.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from pdzone.errors import Invalid

_RIC = re.compile(r"^\d{17}[\dX]$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class Checked:
    value: str
    warnings: list[str] = field(default_factory=list)


def check_id_number(value: str, *, today: dt.date | None = None) -> Checked:
    """Validate a resident ID number; returns the normalised number and any warnings."""
    number = re.sub(r"\s", "", str(value)).upper()
    if not _RIC.match(number):
        raise Invalid("身份证号码须为 18 位（最后一位可为 X）", "an ID number has 18 characters (the last may be X)",
                      code="invalid_id_number")
    if ric.calc_check_digit(number) != number[-1]:
        raise Invalid("身份证号码校验位错误", "the ID number's check digit is wrong", code="invalid_id_number")
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as e:
        raise Invalid("身份证号码中的出生日期不存在", "the ID number holds no real birth date",
                      code="invalid_id_number") from e
    if born.year < 1900 or born > (today or dt.date.today()):
        raise Invalid("身份证号码中的出生日期不合理", "the ID number's birth date is out of range",
                      code="invalid_id_number")
    warnings = []
    if not _region_known(number):
        warnings.append(f"region code {number[:6]} is unknown or was renamed; kept as given")
    return Checked(number, warnings)


def _region_known(number: str) -> bool:
    try:
        ric.get_birth_place(number)
        return True
    except (ValidationError, KeyError, ValueError):
        return False


def is_valid_id_number(value: str) -> bool:
    try:
        check_id_number(value)
        return True
    except Invalid:
        return False


def check_uscc(value: str) -> str:
    """Unified social credit code (统一社会信用代码), 18 characters with a check character."""
    code = re.sub(r"\s", "", str(value)).upper()
    try:
        return uscc.validate(code)
    except ValidationError as e:
        raise Invalid("统一社会信用代码无效（长度、字符或校验位错误）",
                      "invalid unified social credit code (length, characters or check character)",
                      code="invalid_uscc") from e


def check_mobile(value: str) -> str:
    number = re.sub(r"[\s-]", "", str(value))
    number = number.removeprefix("+86")
    if not _MOBILE.match(number):
        raise Invalid("手机号码须为 11 位、以 13-19 开头", "a mobile number has 11 digits starting 13-19",
                      code="invalid_mobile")
    return number


def mask_id_number(number: str) -> str:
    """110105********002X: region and last four stay, the birth date and order code go."""
    return number[:6] + "*" * 8 + number[-4:]


def mask_mobile(number: str) -> str:
    return number[:3] + "****" + number[-4:]
