"""PII detection for Chinese data, and a suggested level (R-21.3).

Per column, values decide the type; column names and descriptions only raise or lower confidence::

    findings = scan(con, "人员信息", [("身份证号", None), ("备注", "free text")])
    suggestion = suggest_level(findings)          # a suggestion; a person confirms the level

Detectors run inside DuckDB, one statement per table over a reservoir sample (default 100,000 rows):
regular expressions for shapes, integer arithmetic for check digits (GB 11643 ID numbers with a real
birth date, GB 32100 USCC, Luhn for bank cards), DuckDB's date cast for calendars. A withdrawn or
unknown region code never rejects an ID number; it is reported as evidence. Python turns the counts
into findings and never looks at single values.
"""

from .hints import Hints, hints
from .levels import DEFAULT_RULES, LevelReason, LevelRule, LevelSuggestion, rules_from_config, suggest_level
from .pii import (
    CHECK_DIGIT_TYPES,
    DIRECT_IDENTIFIERS,
    PRIORITY,
    QUASI_IDENTIFIERS,
    SENSITIVE_IDENTIFIERS,
    PiiType,
)
from .scan import DEFAULT_SAMPLE, MIN_CONFIDENCE, ColumnFinding, Evidence, quote_ident, relation_sql, scan
from .sql import values_sql

__all__ = [
    "CHECK_DIGIT_TYPES", "DEFAULT_RULES", "DEFAULT_SAMPLE", "DIRECT_IDENTIFIERS", "MIN_CONFIDENCE", "PRIORITY",
    "QUASI_IDENTIFIERS", "SENSITIVE_IDENTIFIERS", "ColumnFinding", "Evidence", "Hints", "LevelReason", "LevelRule",
    "LevelSuggestion", "PiiType", "hints", "quote_ident", "relation_sql", "rules_from_config",
    "scan", "suggest_level", "values_sql",
]
