"""Column policies: which de-identification operator (GB/T 37964) a column gets, and its defaults.

A policy is a small frozen pydantic model, stored as JSON per dataset column::

    {"op": "partial", "keep_first": 1}           张三 → 张*
    {"op": "id_generalize"}                       110105199003071234 → 110105|1990|男
    {"op": "top_code", "cap": 90}                 97 → 90

Only the parameters of the policy's own operator are serialized, and a parameter that belongs to another operator is
refused, so a stored policy always means exactly what it says. Every validation failure, whether from the
constructor, ``model_validate`` or ``model_validate_json``, raises :class:`pdzone.errors.Invalid` with code
``invalid_mask_policy`` (a policy nested in another model raises it too, not a pydantic ``ValidationError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator

from pdzone.errors import Invalid

INVALID_POLICY = "invalid_mask_policy"


class MaskOp(StrEnum):
    """The operators. Each runs inside the engine as SQL except ``pseudonym`` (the engine has no SM3).

    keep             the value as it is; only for non-identifying columns of level-1 data (see :func:`check_policy`)
    partial          keep the first ``keep_first`` and last ``keep_last`` characters, mask the rest (屏蔽)
    redact           every value becomes NULL, or the fixed ``replacement`` text (NULL stays NULL)
    pseudonym        keyed pseudonym, HMAC-SM3 (gm) / HMAC-SHA256 (intl), keyed per zone and recipient (假名化)
    age_band         an age becomes its band, ``"30-39"``; ages at or above ``cap`` become ``"90+"`` (泛化)
    date_month       a date becomes ``"YYYY-MM"``
    date_year        a date becomes its year (an integer)
    address_district a Chinese address is cut to its district (区/县/旗/县级市), or to city or province
    id_generalize    a resident ID number becomes ``"region|birth year|sex"``, e.g. ``"110105|1990|男"``
    top_code         values above ``cap`` become ``cap`` (顶部编码)
    bottom_code      values below ``floor`` become ``floor`` (底部编码)
    suppress         values occurring fewer than ``min_count`` times in the column become NULL (局部抑制)

    Operators that parse their input (numbers, dates, ID numbers, addresses) turn what they cannot parse into
    NULL: a value is never passed through raw because it had an unexpected shape.
    """

    KEEP = "keep"
    PARTIAL = "partial"
    REDACT = "redact"
    PSEUDONYM = "pseudonym"
    AGE_BAND = "age_band"
    DATE_MONTH = "date_month"
    DATE_YEAR = "date_year"
    ADDRESS_DISTRICT = "address_district"
    ID_GENERALIZE = "id_generalize"
    TOP_CODE = "top_code"
    BOTTOM_CODE = "bottom_code"
    SUPPRESS = "suppress"


#: The parameters each operator takes; any other parameter must be left at its default.
PARAMS: dict[MaskOp, frozenset[str]] = {
    MaskOp.KEEP: frozenset({"released"}),
    MaskOp.PARTIAL: frozenset({"keep_first", "keep_last", "mask_char", "mask_len"}),
    MaskOp.REDACT: frozenset({"replacement"}),
    MaskOp.PSEUDONYM: frozenset(),
    MaskOp.AGE_BAND: frozenset({"band_width", "cap"}),
    MaskOp.DATE_MONTH: frozenset(),
    MaskOp.DATE_YEAR: frozenset(),
    MaskOp.ADDRESS_DISTRICT: frozenset({"granularity"}),
    MaskOp.ID_GENERALIZE: frozenset({"region_digits", "keep_sex"}),
    MaskOp.TOP_CODE: frozenset({"cap"}),
    MaskOp.BOTTOM_CODE: frozenset({"floor"}),
    MaskOp.SUPPRESS: frozenset({"min_count"}),
}

_Small = Annotated[int, Field(strict=True, ge=0, le=32)]
_Bound = Annotated[int | float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
MAX_AGE = 150  # ages outside [0, MAX_AGE] are not ages: age_band gives NULL


def _bad(zh: str, en: str, **details: Any) -> Invalid:
    return Invalid(f"脱敏策略无效：{zh}", f"invalid masking policy: {en}", code=INVALID_POLICY, details=details)


class ColumnPolicy(BaseModel):
    """How one column leaves the zone. Frozen and hashable; JSON holds ``op`` and that operator's parameters.

    Parameters (each belongs to the operators named in :data:`PARAMS`):

    - ``keep_first``, ``keep_last`` (0-32, default 0): characters kept at each end by ``partial``. At least one
      character is always masked: a value no longer than ``keep_first + keep_last`` keeps fewer, ``keep_first``
      first (``张`` with keep_first=1 becomes ``*``).
    - ``mask_char`` (one printable character, default ``*``); ``mask_len`` (1-32): a fixed number of mask
      characters, which hides the value's length (``欧阳娜娜`` with keep_first=1, mask_len=2 → ``欧**``).
    - ``replacement`` (1-32 printable characters): the text ``redact`` writes instead of NULL.
    - ``band_width`` (2-100, default 10) and ``cap`` (an age, a multiple of band_width) for ``age_band``.
    - ``cap`` / ``floor`` (finite numbers, |x| ≤ 1e15) for ``top_code`` / ``bottom_code`` (required there).
    - ``granularity`` (``district`` default, ``city``, ``province``) for ``address_district``.
    - ``region_digits`` (0, 2, 4 or 6; default 6) and ``keep_sex`` (default true) for ``id_generalize``; a shorter
      region is padded with zeros to the code of its prefecture or province (``110100``, ``110000``).
    - ``min_count`` (2-1,000,000, default 5) for ``suppress``.
    - ``released`` (default false) for ``keep``: an explicit decision to release a non-identifying column of data
      above level 1 (see :func:`check_policy`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: MaskOp
    keep_first: _Small = 0
    keep_last: _Small = 0
    mask_char: Annotated[str, Field(min_length=1, max_length=1)] = "*"
    mask_len: Annotated[int, Field(strict=True, ge=1, le=32)] | None = None
    replacement: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    band_width: Annotated[int, Field(strict=True, ge=2, le=100)] = 10
    cap: _Bound | None = None
    floor: _Bound | None = None
    granularity: Literal["district", "city", "province"] = "district"
    region_digits: Literal[0, 2, 4, 6] = 6
    keep_sex: Annotated[bool, Field(strict=True)] = True
    min_count: Annotated[int, Field(strict=True, ge=2, le=1_000_000)] = 5
    released: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="wrap")
    @classmethod
    def _as_invalid(cls, data: Any, handler: Any) -> ColumnPolicy:
        """Every entry point raises the domain error, with pydantic's findings in ``details``."""
        try:
            return handler(data)
        except ValidationError as e:
            errors = [{"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"]} for err in e.errors()]
            where = ", ".join(err["loc"] or "op" for err in errors)
            raise _bad(f"参数 {where} 不合法", "; ".join(f"{err['loc']}: {err['msg']}" for err in errors),
                       errors=errors) from None

    @model_validator(mode="after")
    def _check(self) -> ColumnPolicy:
        own = PARAMS[self.op]
        stray = sorted(name for name in type(self).model_fields
                       if name != "op" and name not in own and getattr(self, name) != _DEFAULTS[name])
        if stray:
            raise _bad(f"操作 {self.op.value} 不接受参数 {', '.join(stray)}",
                       f"operator {self.op.value} takes no parameter {', '.join(stray)}", params=stray)
        for name in ("mask_char", "replacement"):
            text = getattr(self, name)
            if text is not None and not text.isprintable():
                raise _bad(f"{name} 含有控制字符", f"{name} holds a control character", params=[name])
        if self.op is MaskOp.TOP_CODE and self.cap is None:
            raise _bad("顶部编码须给出上限 cap", "top_code needs a cap", params=["cap"])
        if self.op is MaskOp.BOTTOM_CODE and self.floor is None:
            raise _bad("底部编码须给出下限 floor", "bottom_code needs a floor", params=["floor"])
        if self.op is MaskOp.AGE_BAND and self.cap is not None and (
                not isinstance(self.cap, int) or not 0 < self.cap <= MAX_AGE or self.cap % self.band_width):
            raise _bad(f"年龄分段的 cap 须为 1-{MAX_AGE} 之间、band_width 整数倍的整数",
                       f"age_band cap must be an integer in 1-{MAX_AGE} and a multiple of band_width",
                       params=["cap"])
        return self

    @model_serializer(mode="wrap")
    def _only_own_params(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        own = PARAMS[self.op]
        return {k: v for k, v in data.items() if k == "op" or (k in own and v is not None)}


_DEFAULTS = {name: f.default for name, f in ColumnPolicy.model_fields.items() if name != "op"}

# --- defaults per detected type and level -------------------------------------------------------------------------

P = ColumnPolicy
_PSEUDONYM = P(op=MaskOp.PSEUDONYM)
_REDACT = P(op=MaskOp.REDACT)

#: Default policy per detector type, as (level 1, level 2 and above). Identifiers that partners join on
#: (ID number, USCC, mobile, bank card, plate, passport, e-mail) become per-recipient pseudonyms above level 1; at
#: level 1 they are partially masked or generalized the way GB/T 35273 shows them. Types with no meaningful
#: generalization here (IP address, coordinates) are redacted.
DEFAULTS: dict[str, tuple[ColumnPolicy, ColumnPolicy]] = {
    "resident_id": (P(op=MaskOp.ID_GENERALIZE), _PSEUDONYM),                 # 110105|1990|男
    "uscc": (P(op=MaskOp.PARTIAL, keep_first=8), _PSEUDONYM),                # 91110105**********: dept, type, region
    "mobile": (P(op=MaskOp.PARTIAL, keep_first=3, keep_last=4), _PSEUDONYM),  # 138****5678
    "landline": (P(op=MaskOp.PARTIAL, keep_first=4), _REDACT),                # 010-********: the area code
    "bank_card": (P(op=MaskOp.PARTIAL, keep_first=6, keep_last=4), _PSEUDONYM),  # 622202*********1234
    "email": (_PSEUDONYM, _PSEUDONYM),                                       # a contact, useful only as a join key
    "plate": (P(op=MaskOp.PARTIAL, keep_first=2), _PSEUDONYM),               # 京A*****
    "passport": (P(op=MaskOp.PARTIAL, keep_first=1), _PSEUDONYM),            # E********
    "person_name": (P(op=MaskOp.PARTIAL, keep_first=1), _REDACT),            # 张*, 欧***
    "address": (P(op=MaskOp.ADDRESS_DISTRICT), P(op=MaskOp.ADDRESS_DISTRICT, granularity="city")),
    "birth_date": (P(op=MaskOp.DATE_YEAR), P(op=MaskOp.DATE_YEAR)),
    "ip_address": (_REDACT, _REDACT),
    "coordinates": (_REDACT, _REDACT),
}
PII_TYPES = frozenset(DEFAULTS)


def _check_level(level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 4:
        raise Invalid("数据级别须为 1-4", "a data level is 1 to 4", code="invalid_level", details={"level": level})
    return level


def default_policy(pii_type: str | None, level: int) -> ColumnPolicy:
    """The default policy for a column of a dataset of ``level`` (1-4), by the detector's type.

    ``pii_type`` is one of :data:`PII_TYPES` or None for a column the detector found no personal data in. A
    non-PII column is kept at level 1 and redacted at level 2 and above, where every column is masked unless
    someone explicitly releases it (``ColumnPolicy(op="keep", released=True)``). A type this table does not know
    (a newer detector) is redacted: fail closed.
    """
    _check_level(level)
    if pii_type is None:
        return P(op=MaskOp.KEEP) if level == 1 else _REDACT
    pair = DEFAULTS.get(pii_type)
    if pair is None:
        return _REDACT
    return pair[0] if level == 1 else pair[1]


#: Operators that return some values unchanged: ``keep`` all of them, ``suppress`` the frequent ones, the codings
#: those inside the bounds. None of them may touch a column detected as personal data.
RAW_PASSING = frozenset({MaskOp.KEEP, MaskOp.SUPPRESS, MaskOp.TOP_CODE, MaskOp.BOTTOM_CODE})


def check_policy(policy: ColumnPolicy, *, pii_type: str | None, level: int) -> ColumnPolicy:
    """Refuse a policy that would let raw values out where they must not go.

    An operator of :data:`RAW_PASSING` is refused on any column detected as personal data, at every level (a
    common name would pass ``suppress``, a coordinate inside the bounds a coding). ``keep`` is refused on data
    above level 1 unless the policy says ``released=True``: a deliberate release of a non-identifying column,
    which the caller records in the audit log. The other operators never return a raw value and are accepted.
    """
    _check_level(level)
    if policy.op in RAW_PASSING and pii_type is not None:
        raise _bad(f"识别为个人信息（{pii_type}）的列不能使用会原样输出部分值的操作 {policy.op.value}",
                   f"a {pii_type} column cannot use {policy.op.value}, which lets values out unchanged",
                   pii_type=pii_type, op=policy.op.value)
    if policy.op is MaskOp.KEEP and level > 1 and not policy.released:
        raise _bad("2 级及以上数据的列须脱敏，除非明确放行（released）",
                   "columns of data above level 1 are masked unless explicitly released", level=level)
    return policy


def default_policies(pii_types: Mapping[str, str | None], level: int,
                     overrides: Mapping[str, ColumnPolicy] | None = None) -> dict[str, ColumnPolicy]:
    """The policies of a dataset: defaults per column, with the dataset's own edits laid over and checked.

    ``pii_types`` maps every column to its detected type (None: not PII); an override for a column that is not in
    it is refused, so a typo cannot leave the intended column on its default.
    """
    unknown = sorted(set(overrides or {}) - set(pii_types))
    if unknown:
        raise _bad(f"未知的列：{', '.join(unknown)}", f"unknown columns: {', '.join(unknown)}", columns=unknown)
    out = {}
    for column, pii in pii_types.items():
        policy = (overrides or {}).get(column) or default_policy(pii, level)
        out[column] = check_policy(policy, pii_type=pii, level=level)
    return out
