"""The leaf bytes of an event: a versioned canonical encoding (docs/audit-log.md).

Version 1 is the ASCII line ``pdzone.audit.v1`` and a newline, then a JSON object with the
keys below, sorted, no whitespace, ASCII (non-ASCII characters as \\uXXXX escapes,
as Python's json.dumps and most JSON libraries write by default). `time` is UTC with microseconds;
`details` is the stored canonical JSON text as a string, so no re-serialisation can change it.
`seq` is inside the leaf: moving an event's content to another position changes its hash.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

PREFIX_V1 = b"pdzone.audit.v1\n"
FIELDS = ("seq", "id", "occurred_at", "actor", "actor_user_id", "actor_org_id", "token_id", "zone",
          "action", "target_type", "target_id", "outcome", "source_ip", "request_id", "details")


_ZERO = dt.timedelta(0)


def fmt_time(t: dt.datetime) -> str:
    """UTC, always with microseconds: 2026-11-27T08:00:00.000000Z."""
    off = t.utcoffset()
    if off is None:  # naive values are UTC (SQLite stores them so)
        return t.isoformat(timespec="microseconds") + "Z"
    if off != _ZERO:
        t = t.astimezone(dt.UTC)
    return t.isoformat(timespec="microseconds")[:26] + "Z"


def event_dict(row: Mapping[str, Any] | Any, seq: int | None = None) -> dict[str, Any]:
    get = row.get if isinstance(row, Mapping) else lambda k: getattr(row, k)
    d = {k: get(k) for k in FIELDS}
    if seq is not None:
        d["seq"] = seq
    d["occurred_at"] = fmt_time(d["occurred_at"]) if isinstance(d["occurred_at"], dt.datetime) \
        else d["occurred_at"]
    return d


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _s(v) -> str:
    return "null" if v is None else _quote(v)


def _i(v) -> str:
    return "null" if v is None else str(int(v))


def leaf_bytes_from_row(r: tuple) -> bytes:
    """Same bytes as leaf_bytes(event_dict(row)), for a row in EVENT_COLUMNS order (id first).

    The verifier's hot path: the JSON is written directly, keys already in sorted order, each
    string through the json module's own C escaper. A property test holds it equal to leaf_bytes.
    """
    i, seq, t, actor, uid, oid, tok, zone, action, ttype, tid, outcome, ip, rid, details = r[:15]
    return (f'pdzone.audit.v1\n{{"action":{_quote(action)},"actor":{_quote(actor)},"actor_org_id":{_i(oid)},'
            f'"actor_user_id":{_i(uid)},"details":{_quote(details)},"id":{int(i)},"outcome":{_quote(outcome)},'
            f'"request_id":{_s(rid)},"seq":{int(seq)},"source_ip":{_s(ip)},"target_id":{_s(tid)},'
            f'"target_type":{_s(ttype)},"time":"{fmt_time(t)}","token_id":{_i(tok)},"zone":{_s(zone)}}}'
            ).encode("ascii")


def leaf_bytes(ev: Mapping[str, Any]) -> bytes:
    """Encode an event dict (as from `event_dict`) into its v1 leaf bytes."""
    doc = {
        "seq": ev["seq"], "id": ev["id"], "time": ev["occurred_at"], "actor": ev["actor"],
        "actor_user_id": ev["actor_user_id"], "actor_org_id": ev["actor_org_id"],
        "token_id": ev["token_id"], "zone": ev["zone"], "action": ev["action"],
        "target_type": ev["target_type"], "target_id": ev["target_id"], "outcome": ev["outcome"],
        "source_ip": ev["source_ip"], "request_id": ev["request_id"], "details": ev["details"],
    }
    return PREFIX_V1 + _ENCODER.encode(doc).encode()
