"""The leaf bytes of an event and the bytes its MAC covers: versioned canonical encodings (docs/audit-log.md).

Version 1 is the ASCII line ``pdzone.audit.v1`` and a newline, then a JSON object with the
keys below, sorted, no whitespace, ASCII (non-ASCII characters as \\uXXXX escapes,
as Python's json.dumps and most JSON libraries write by default). `time` is UTC with microseconds;
`details` is the stored canonical JSON text as a string, so no re-serialisation can change it.
`seq` is inside the leaf: moving an event's content to another position changes its hash.

Version 2 (every event written with a MAC) is the same object with one more key, `mac`: the
event's MAC in lower-case hex, under the prefix ``pdzone.audit.v2``. The MAC itself covers
``pdzone.audit.mac.v1`` and a newline, then the v1 object without `seq` (which is given only
after the event is written).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

PREFIX_V1 = b"pdzone.audit.v1\n"
PREFIX_V2 = b"pdzone.audit.v2\n"
PREFIX_MAC = b"pdzone.audit.mac.v1\n"
FIELDS = ("seq", "id", "occurred_at", "actor", "actor_user_id", "actor_org_id", "token_id", "zone",
          "action", "target_type", "target_id", "outcome", "source_ip", "request_id", "details", "mac")


_ZERO = dt.timedelta(0)


def fmt_time(t: dt.datetime) -> str:
    """UTC, always with microseconds: 2026-11-27T08:00:00.000000Z."""
    tz = t.tzinfo
    if tz is None or tz is dt.UTC:  # the common cases (naive values are UTC), twice as fast as isoformat
        return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}."
                f"{t.microsecond:06d}Z")
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
    if isinstance(d["mac"], bytes | bytearray | memoryview):
        d["mac"] = bytes(d["mac"]).hex()
    return d


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _s(v) -> str:
    return "null" if v is None else _quote(v)


def _i(v) -> str:
    return "null" if v is None else str(int(v))


def leaf_bytes_from_row(r: tuple) -> bytes:
    """Same bytes as leaf_bytes(event_dict(row)), for a row in EVENT_COLUMNS order (id first, mac last).

    The verifier's hot path: the JSON is written directly, keys already in sorted order, each
    string through the json module's own C escaper. A property test holds it equal to leaf_bytes.
    """
    i, seq, t, actor, uid, oid, tok, zone, action, ttype, tid, outcome, ip, rid, details, mac = r[:16]
    if mac is None:
        return (f'pdzone.audit.v1\n{{"action":{_quote(action)},"actor":{_quote(actor)},'
                f'"actor_org_id":{_i(oid)},"actor_user_id":{_i(uid)},"details":{_quote(details)},"id":{int(i)},'
                f'"outcome":{_quote(outcome)},"request_id":{_s(rid)},"seq":{int(seq)},"source_ip":{_s(ip)},'
                f'"target_id":{_s(tid)},"target_type":{_s(ttype)},"time":"{fmt_time(t)}","token_id":{_i(tok)},'
                f'"zone":{_s(zone)}}}').encode("ascii")
    return (f'pdzone.audit.v2\n{{"action":{_quote(action)},"actor":{_quote(actor)},"actor_org_id":{_i(oid)},'
            f'"actor_user_id":{_i(uid)},"details":{_quote(details)},"id":{int(i)},"mac":"{bytes(mac).hex()}",'
            f'"outcome":{_quote(outcome)},"request_id":{_s(rid)},"seq":{int(seq)},"source_ip":{_s(ip)},'
            f'"target_id":{_s(tid)},"target_type":{_s(ttype)},"time":"{fmt_time(t)}","token_id":{_i(tok)},'
            f'"zone":{_s(zone)}}}').encode("ascii")


def mac_bytes(i: int, t: dt.datetime | str, actor: str, uid, oid, tok, zone, action: str, ttype, tid,
              outcome: str, ip, rid, details: str) -> bytes:
    """What an event's MAC covers: every field the leaf holds except `seq` and the MAC itself.

    Written on every event's write path, so the conditionals are inline rather than helper calls.
    """
    q = _quote
    time = t if isinstance(t, str) else fmt_time(t)
    return (f'pdzone.audit.mac.v1\n{{"action":{q(action)},"actor":{q(actor)},'
            f'"actor_org_id":{"null" if oid is None else int(oid)},'
            f'"actor_user_id":{"null" if uid is None else int(uid)},"details":{q(details)},"id":{int(i)},'
            f'"outcome":{q(outcome)},"request_id":{"null" if rid is None else q(rid)},'
            f'"source_ip":{"null" if ip is None else q(ip)},"target_id":{"null" if tid is None else q(tid)},'
            f'"target_type":{"null" if ttype is None else q(ttype)},"time":"{time}",'
            f'"token_id":{"null" if tok is None else int(tok)},"zone":{"null" if zone is None else q(zone)}}}'
            ).encode("ascii")


def mac_bytes_from_row(r: tuple) -> bytes:
    """mac_bytes for a row in EVENT_COLUMNS order."""
    i, _seq, t, actor, uid, oid, tok, zone, action, ttype, tid, outcome, ip, rid, details = r[:15]
    return mac_bytes(i, t, actor, uid, oid, tok, zone, action, ttype, tid, outcome, ip, rid, details)


def leaf_bytes(ev: Mapping[str, Any]) -> bytes:
    """Encode an event dict (as from `event_dict`) into its leaf bytes: v2 when it carries a MAC, else v1."""
    doc = {
        "seq": ev["seq"], "id": ev["id"], "time": ev["occurred_at"], "actor": ev["actor"],
        "actor_user_id": ev["actor_user_id"], "actor_org_id": ev["actor_org_id"],
        "token_id": ev["token_id"], "zone": ev["zone"], "action": ev["action"],
        "target_type": ev["target_type"], "target_id": ev["target_id"], "outcome": ev["outcome"],
        "source_ip": ev["source_ip"], "request_id": ev["request_id"], "details": ev["details"],
    }
    if ev.get("mac") is None:
        return PREFIX_V1 + _ENCODER.encode(doc).encode()
    return PREFIX_V2 + _ENCODER.encode({**doc, "mac": ev["mac"]}).encode()
