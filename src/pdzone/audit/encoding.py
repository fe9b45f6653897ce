"""The leaf bytes of an event: a versioned canonical encoding (docs/audit-log.md).

Version 1 is the ASCII line ``pdzone.audit.v1`` and a newline, then a JSON object with the
keys below, sorted, no whitespace, UTF-8 (not \\u-escaped). `time` is UTC with microseconds;
`details` is the stored canonical JSON text as a string, so no re-serialisation can change it.
`seq` is inside the leaf: moving an event's content to another position changes its hash.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

PREFIX_V1 = b"pdzone.audit.v1\n"
FIELDS = ("seq", "id", "occurred_at", "actor", "actor_user_id", "actor_org_id", "token_id", "zone",
          "action", "target_type", "target_id", "outcome", "source_ip", "request_id", "details")


def fmt_time(t: dt.datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_dict(row: Mapping[str, Any] | Any, seq: int | None = None) -> dict[str, Any]:
    get = row.get if isinstance(row, Mapping) else lambda k: getattr(row, k)
    d = {k: get(k) for k in FIELDS}
    if seq is not None:
        d["seq"] = seq
    d["occurred_at"] = fmt_time(d["occurred_at"]) if isinstance(d["occurred_at"], dt.datetime) \
        else d["occurred_at"]
    return d


def leaf_bytes(ev: Mapping[str, Any]) -> bytes:
    """Encode an event dict (as from `event_dict`) into its v1 leaf bytes."""
    doc = {
        "seq": ev["seq"], "id": ev["id"], "time": ev["occurred_at"], "actor": ev["actor"],
        "actor_user_id": ev["actor_user_id"], "actor_org_id": ev["actor_org_id"],
        "token_id": ev["token_id"], "zone": ev["zone"], "action": ev["action"],
        "target_type": ev["target_type"], "target_id": ev["target_id"], "outcome": ev["outcome"],
        "source_ip": ev["source_ip"], "request_id": ev["request_id"], "details": ev["details"],
    }
    return PREFIX_V1 + json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
