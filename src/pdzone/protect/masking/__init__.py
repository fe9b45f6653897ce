"""Masking and de-identification (GB/T 37964 families) as column policies, R-21.3.

- :class:`ColumnPolicy` / :class:`MaskOp`: what happens to a column (stored as JSON per dataset column);
  :func:`default_policy` / :func:`default_policies`: defaults by detected PII type and level 1-4;
  :func:`check_policy`: refuses operators that pass raw values (``keep``, ``suppress``, coding) on personal
  data, and ``keep`` above level 1 unless released.
- :func:`sql_expression`: the operator as a DuckDB expression, so it runs inside the engine.
- :class:`Pseudonymizer` / :func:`pseudonym_key`: keyed pseudonyms (HMAC-SM3 / HMAC-SHA256), per zone and recipient,
  computed vectorized on the engine's Arrow output (the engine has no SM3).
- :func:`mask_query`: one masked SELECT → Arrow; a column without a policy is refused, never passed through.

Everything is deterministic: the same value, policy and key give the same output.
"""

from pdzone.protect.masking.policy import (
    DEFAULTS,
    PARAMS,
    PII_TYPES,
    RAW_PASSING,
    ColumnPolicy,
    MaskOp,
    check_policy,
    default_policies,
    default_policy,
)
from pdzone.protect.masking.pseudonym import TOKEN_BYTES, Pseudonymizer, pseudonym_key
from pdzone.protect.masking.query import mask_query
from pdzone.protect.masking.sql import quote_identifier, sql_expression, sql_string

__all__ = [
    "DEFAULTS",
    "PARAMS",
    "PII_TYPES",
    "RAW_PASSING",
    "TOKEN_BYTES",
    "ColumnPolicy",
    "MaskOp",
    "Pseudonymizer",
    "check_policy",
    "default_policies",
    "default_policy",
    "mask_query",
    "pseudonym_key",
    "quote_identifier",
    "sql_expression",
    "sql_string",
]
