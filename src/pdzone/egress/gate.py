"""The egress gate. In this release it serves masked previews and catalog statistics.

Rules, in order: the caller may use the dataset (role, own data for providers, filing for staff);
the dataset may be operated at all (R-28); the release form is allowed for its level; every column
goes out under its masking policy (no raw values of level ≥ 2 data, ever); the release is audited
with its row count and a digest of exactly what left, in the caller's transaction; a receipt names
the audit event.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from enum import StrEnum

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from pdzone.audit.events import Action, Actor, flush_events, record
from pdzone.catalog import access
from pdzone.catalog import actions as cat
from pdzone.catalog.models import Dataset, DatasetColumn
from pdzone.crypto import CryptoSuite, KeyStore
from pdzone.dataplane.engine import with_tables
from pdzone.dataplane.storage import DatasetStorage
from pdzone.db import utcnow
from pdzone.egress import grants as gr
from pdzone.egress.models import StoredAnswer
from pdzone.errors import Forbidden, Invalid
from pdzone.identity.auth import Principal
from pdzone.identity.roles import Perm
from pdzone.protect.masking import ColumnPolicy, MaskOp, Pseudonymizer, check_policy, default_policy, mask_query
from pdzone.protect.masking import pseudonym_key as _pseudonym_key

MAX_PREVIEW = 100


class Form(StrEnum):
    PREVIEW = "preview"   # masked sample rows
    STATS = "stats"       # per-column counts


@dataclass(frozen=True)
class Receipt:
    """What left, to whom, under which audit event."""

    event_id: int
    dataset: str
    form: str
    rows: int
    digest: str
    recipient: str
    released_at: str

    def as_dict(self) -> dict:
        return asdict(self)


def effective_level(ds: Dataset) -> int:
    """Data whose level nobody has confirmed yet is treated as level 4."""
    return ds.level or 4


def policies_for(session: Session, ds: Dataset) -> tuple[list[str], dict[str, ColumnPolicy]]:
    """Each column's policy: the dataset's own edit, else the default for its detected type and level."""
    level = effective_level(ds)
    cols = session.scalars(select(DatasetColumn).where(DatasetColumn.dataset_id == ds.id)
                           .order_by(DatasetColumn.position)).all()
    out = {}
    for c in cols:
        policy = ColumnPolicy.model_validate_json(c.mask_policy) if c.mask_policy else default_policy(c.pii_type, level)
        if policy.op is MaskOp.KEEP and level >= 2:  # no raw values of level >= 2 data leave
            policy = default_policy(c.pii_type or None, level) if c.pii_type else ColumnPolicy(op=MaskOp.REDACT)
        out[c.name] = check_policy(policy, pii_type=c.pii_type, level=level)
    return [c.name for c in cols], out


def _digest(suite: CryptoSuite, table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return suite.hash(sink.getvalue().to_pybytes()).hex()


def _json_safe(v):
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return v


def _authorize(session: Session, principal: Principal, ds: Dataset) -> None:
    access.check(session, principal, Perm.DATASET_PREVIEW, ds.zone_code, ds)
    cat.check_operable(ds)


def _audit(session: Session, suite: CryptoSuite, *, actor: Actor, ds: Dataset, form: Form, table: pa.Table,
           recipient: str, extra: dict) -> Receipt:
    digest = _digest(suite, table)
    ev = record(session, actor=actor, action=f"egress.{form.value}.release", target_type="dataset",
                target_id=ds.name, zone=ds.zone_code,
                details={"form": form.value, "rows": table.num_rows, "columns": table.column_names,
                         "digest": digest, "recipient": recipient, "level": effective_level(ds), **extra})
    flush_events(session)  # the receipt names the event: write it now, in this transaction
    return Receipt(ev.id or 0, ds.name, form.value, table.num_rows, digest, recipient, utcnow().isoformat())


def release_preview(session: Session, keystore: KeyStore, suite: CryptoSuite, store: DatasetStorage, ds: Dataset,
                    *, principal: Principal, actor: Actor, limit: int = 20) -> tuple[dict, Receipt]:
    """A masked preview of a few rows, for the provider (own data) and filed operator staff."""
    if not 1 <= limit <= MAX_PREVIEW:
        raise Invalid(f"预览行数须在 1 到 {MAX_PREVIEW} 之间", f"a preview has 1 to {MAX_PREVIEW} rows",
                      code="invalid_limit")
    _authorize(session, principal, ds)
    columns, policies = policies_for(session, ds)
    recipient = f"org:{principal.org_id}"
    pseudo = Pseudonymizer(_pseudonym_key(keystore, zone=ds.zone_code, recipient=recipient, suite=suite.name),
                           suite.name)
    con = with_tables({"t": cat.load_table(session, keystore, suite, store, ds)})
    try:
        out = mask_query(con, "t", columns, policies, pseudonymizer=pseudo, limit=limit)
    finally:
        con.close()
    receipt = _audit(session, suite, actor=actor, ds=ds, form=Form.PREVIEW, table=out, recipient=recipient,
                     extra={"policies": {c: p.op.value for c, p in policies.items()}})
    return {"columns": columns, "policies": {c: json.loads(p.model_dump_json()) for c, p in policies.items()},
            "rows": [{k: _json_safe(v) for k, v in r.items()} for r in out.to_pylist()]}, receipt


def release_stats(session: Session, keystore: KeyStore, suite: CryptoSuite, store: DatasetStorage, ds: Dataset,
                  *, principal: Principal, actor: Actor) -> tuple[dict, Receipt]:
    """Per-column non-empty counts (no values, no distinct counts that could single out a person)."""
    _authorize(session, principal, ds)
    table = cat.load_table(session, keystore, suite, store, ds)
    stats = pa.table({"column": table.column_names,
                      "non_empty": [table[c].length() - table[c].null_count for c in table.column_names]})
    receipt = _audit(session, suite, actor=actor, ds=ds, form=Form.STATS, table=stats,
                     recipient=f"org:{principal.org_id}", extra={})
    return {"rows": table.num_rows, "columns": stats.to_pylist()}, receipt


def digest_rows(suite: CryptoSuite, columns: list[str], rows: list[list]) -> str:
    """A digest of exactly what leaves (canonical JSON of columns and rows)."""
    blob = json.dumps({"columns": columns, "rows": rows}, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str).encode()
    return suite.hash(blob).hex()


def release_answer(session: Session, suite: CryptoSuite, *, actor: Actor, grant, datasets: list[Dataset],
                   columns: list[str], rows: list[list], epsilon_nano: int, delta_femto: int, details: dict,
                   store_answer: tuple[str, bytes] | None = None) -> dict:
    """The clean room's door: charge the budget, keep the answer, audit, return the receipt.

    All in the caller's transaction, committed before the first byte of the answer leaves: the ε
    charge (grant and each dataset account), the stored answer (unique per grant and normalized
    query, so a concurrent twin fails here rather than releasing fresh, uncharged noise) and the
    audit event with the query hash, datasets, scenario, ε, rows out and a digest of the result.
    """
    for ds in datasets:
        cat.check_operable(ds)
    if grant.revoked or (grant.expires_at is not None and grant.expires_at <= utcnow()):
        raise Forbidden("授权已到期或被撤销", "the grant has expired or was revoked", code="grant_expired")
    if epsilon_nano or delta_femto:
        gr.charge(session, grant, datasets, epsilon_nano, delta_femto)
    digest = digest_rows(suite, columns, rows)
    ev = record(session, actor=actor, action=Action.QUERY_RELEASE, target_type="grant", target_id=str(grant.id),
                zone=grant.zone_code,
                details={**details, "datasets": {d.name: d.version for d in datasets}, "rows": len(rows),
                         "columns": columns, "digest": digest, "epsilon": str(gr.from_nano(epsilon_nano)),
                         "delta": float(delta_femto) * 1e-15})
    flush_events(session)
    if store_answer is not None:
        key, sealed = store_answer
        session.add(StoredAnswer(grant_id=grant.id, query_key=key, sealed=sealed, event_id=ev.id or 0,
                                 created_at=utcnow()))
        session.flush()
    session.refresh(grant)
    return {"event_id": ev.id, "seq": None, "grant_id": grant.id, "digest": digest, "rows": len(rows),
            "epsilon_spent": str(gr.from_nano(epsilon_nano)),
            "epsilon_left": str(gr.from_nano(grant.epsilon_total - grant.epsilon_spent)),
            "delta_spent": float(delta_femto) * 1e-15, "released_at": utcnow().isoformat(),
            "datasets": {d.name: d.version for d in datasets}}
