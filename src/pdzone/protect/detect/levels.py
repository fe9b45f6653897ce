"""A suggested level (1-4) for a dataset from what its columns hold, by configurable rules.

The result is a suggestion for the people who decide a dataset's level (R-27, catalog). Nothing here
writes a level anywhere: decisions stay human.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pdzone.errors import Invalid

from .pii import DIRECT_IDENTIFIERS, QUASI_IDENTIFIERS, SENSITIVE_IDENTIFIERS, PiiType
from .scanner import MIN_CONFIDENCE, ColumnFinding


@dataclass(frozen=True)
class LevelRule:
    """At least `min_level` when at least `min_types` distinct types of `types` are found in the dataset."""

    types: frozenset[PiiType]
    min_level: int
    reason_zh: str
    reason_en: str
    min_types: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.min_level <= 4:
            raise Invalid("级别须为 1 到 4", "a level is 1 to 4", code="invalid_level_rule")
        if not 1 <= self.min_types <= max(1, len(self.types)):
            raise Invalid("规则的类型数不合理", "min_types must be between 1 and the number of types",
                          code="invalid_level_rule")


@dataclass(frozen=True)
class LevelReason:
    """A rule that fired, and the columns that made it fire."""

    rule: LevelRule
    columns: tuple[str, ...]

    def message(self, lang: str = "zh") -> str:
        text = self.rule.reason_en if lang.startswith("en") else self.rule.reason_zh
        sep = ", " if lang.startswith("en") else "、"
        return f"{text}: {sep.join(self.columns)}" if lang.startswith("en") else f"{text}：{sep.join(self.columns)}"


@dataclass(frozen=True)
class LevelSuggestion:
    """The suggested level and why. A person confirms or overrides it; it is never applied on its own."""

    level: int
    reasons: list[LevelReason] = field(default_factory=list)
    binding: bool = False  # always False: a suggestion, not a decision


DEFAULT_RULES: tuple[LevelRule, ...] = (
    LevelRule(SENSITIVE_IDENTIFIERS, 3, "含敏感个人信息标识（身份证号、护照号或银行卡号）",
              "holds sensitive identifiers (ID number, passport or bank card number)"),
    LevelRule(DIRECT_IDENTIFIERS, 3, "含可直接识别个人的信息", "holds direct identifiers of persons"),
    LevelRule(QUASI_IDENTIFIERS, 2, "含两类以上准标识符（如出生日期与地址），组合可识别个人",
              "holds two or more quasi-identifiers (such as birth date and address) that identify in combination",
              min_types=2),
    LevelRule(frozenset({PiiType.coordinates}), 2, "含精确位置（经纬度）", "holds precise locations (coordinates)"),
)


def suggest_level(findings: Iterable[ColumnFinding], rules: Sequence[LevelRule] = DEFAULT_RULES, *,
                  min_confidence: float = MIN_CONFIDENCE, floor: int = 1) -> LevelSuggestion:
    """The highest level any rule asks for (at least `floor`), with every rule that fired as a reason.

    Only findings with a type and at least `min_confidence` count. Reasons are sorted by level, highest first.
    """
    found: dict[PiiType, list[str]] = {}
    for f in findings:
        if f.pii_type is not None and f.confidence >= min_confidence:
            found.setdefault(f.pii_type, []).append(f.column)
    reasons = []
    for rule in rules:
        hit = [t for t in rule.types if t in found]
        if len(hit) >= rule.min_types:
            cols = tuple(dict.fromkeys(c for t in sorted(hit) for c in found[t]))
            reasons.append(LevelReason(rule, cols))
    reasons.sort(key=lambda r: -r.rule.min_level)
    level = max([floor, *(r.rule.min_level for r in reasons)])
    return LevelSuggestion(level, reasons)


def rules_from_config(items: Sequence[Mapping[str, Any]]) -> tuple[LevelRule, ...]:
    """Rules from configuration (a TOML array of tables, JSON): ``types`` (type names, or the group names
    ``direct``, ``quasi``, ``sensitive``), ``min_level``, ``reason_zh``, ``reason_en``, optional ``min_types``."""
    groups = {"direct": DIRECT_IDENTIFIERS, "quasi": QUASI_IDENTIFIERS, "sensitive": SENSITIVE_IDENTIFIERS}
    out = []
    for i, item in enumerate(items):
        try:
            types: set[PiiType] = set()
            for name in item["types"]:
                types |= groups.get(name) or {PiiType(name)}
            out.append(LevelRule(frozenset(types), int(item["min_level"]), str(item["reason_zh"]),
                                 str(item["reason_en"]), int(item.get("min_types", 1))))
        except (KeyError, ValueError, TypeError) as e:
            raise Invalid(f"第 {i + 1} 条分级规则无效：{e}", f"level rule {i + 1} is invalid: {e}",
                          code="invalid_level_rule") from e
    return tuple(out)
