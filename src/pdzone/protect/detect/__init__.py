"""PII detection for Chinese data, and a suggested level (R-21.3).

Per column, values decide the type; column names and descriptions only raise or lower confidence::

    findings = scan(con, "人员信息", [("身份证号", None), ("备注", "free text")])
    suggestion = suggest_level(findings)          # a suggestion; a person confirms the level

Everything runs inside DuckDB, two statements per table: a probe over 2,000 sampled rows counts, per
column, the values that pass each detector's cheap guard (length, first character); the scan then runs,
per column, the detectors the probe left standing, over a sample of about 100,000 rows (Bernoulli,
seeded) or over every row. Regular expressions check shapes, integer arithmetic checks digits (GB 11643
ID numbers with a real birth date, GB 32100 USCC, Luhn for bank cards), DuckDB's date cast checks
calendars. A withdrawn or unknown region code never rejects an ID number; it is reported as evidence.
Python turns the counts into findings and never looks at single values.

`values_sql` exposes the same detectors per value; `suggest_level` maps findings to a level by
configurable rules (`DEFAULT_RULES`, `rules_from_config`).
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
from .scanner import DEFAULT_SAMPLE, MIN_CONFIDENCE, ColumnFinding, Evidence, quote_ident, relation_sql, scan
from .sql import values_sql

__all__ = [
    "CHECK_DIGIT_TYPES", "DEFAULT_RULES", "DEFAULT_SAMPLE", "DIRECT_IDENTIFIERS", "MIN_CONFIDENCE", "PRIORITY",
    "QUASI_IDENTIFIERS", "SENSITIVE_IDENTIFIERS", "ColumnFinding", "Evidence", "Hints", "LevelReason", "LevelRule",
    "LevelSuggestion", "PiiType", "hints", "quote_ident", "relation_sql", "rules_from_config",
    "scan", "suggest_level", "values_sql",
]
