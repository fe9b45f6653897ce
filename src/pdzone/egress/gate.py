"""The egress gate: masked previews, catalog statistics and clean-room answers.

Rules, in order: the caller may use the dataset (role, own data for providers, filing for staff);
the dataset may be operated at all (R-28); the release form is allowed for its level; every column
goes out under its masking policy (no raw values of level ≥ 2 data, ever); the release is audited
with its row count and a digest of exactly what left, in the caller's transaction; a receipt names
the audit event.

Clean-room answers reach the gate as what the engine computed (`release.Computed`: exact aggregates
or a row batch, with the `ReleaseSpec` of the checked query). The gate applies the rules of the data's
level itself (`release` for the arithmetic): level-1 rows and group keys masked by their column
policies, level-2 thresholds (reviewed templates only), DP noise; then it charges, stores and audits.
`check_release` refuses beforehand, from the spec alone, what it could not release exactly.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
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
from pdzone.egress import release
from pdzone.egress.models import StoredAnswer
from pdzone.errors import Forbidden, Invalid
from pdzone.identity.auth import Principal
from pdzone.identity.roles import Perm
from pdzone.protect.detect import DIRECT_IDENTIFIERS
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


# Whoever holds one of these in a zone works on its data (provider, operator staff, security admin,
# auditor): they see full metadata. Partners see coarse metadata of level >= 3 data.
_STAFF = (Perm.DATASET_PREVIEW, Perm.DATASET_DECIDE, Perm.DATASET_IMPORT, Perm.DATASET_METADATA, Perm.GRANT_MANAGE,
          Perm.AUDIT_READ, Perm.CLEANROOM_APPROVE)


def coarse_for(principal: Principal, ds: Dataset) -> bool:
    """Whether `principal` sees only coarse metadata of `ds`: a partner, on level >= 3 (or undecided) data.

    Coarse: row counts rounded to two significant digits, no per-column detection results (type,
    match rate, confidence), no version digests, no suggested level and no detection reasons. Exact row counts and match
    rates are facts about the rows (a new version's count tells who was added)."""
    if effective_level(ds) < 3:
        return False
    return not any(principal.can(p, ds.zone_code) for p in _STAFF)


def coarse_count(n: int | None) -> int | None:
    """A row count rounded to two significant digits (1,234 → 1,200; 87 → 90; 3 → 0 or 10)."""
    if n is None or n <= 0:
        return n
    digits = len(str(int(n)))
    step = 10 ** max(digits - 2, 1)
    return round(n / step) * step


def coarse_dataset(doc: dict) -> dict:
    """The catalog document of a dataset (`catalog.queries.dataset_json`/`summary_json`) made coarse."""
    out = dict(doc)
    if "rows" in out:
        out["rows"] = coarse_count(out["rows"])
    if "columns" in out:
        out["columns"] = [{**c, "pii": None} for c in out["columns"]]
    if "versions" in out:
        out["versions"] = [{**ver, "rows": coarse_count(ver.get("rows")), "digest": None} for ver in out["versions"]]
    if "suggested_level" in out:   # a detection result: the level the columns' findings suggest
        out["suggested_level"] = None
    if "suggestion_reasons" in out:
        out["suggestion_reasons"] = []
    if "decisions" in out:   # bounds or public values derived from the data would say what is in it
        out["decisions"] = [d for d in out["decisions"] if not d.get("data_derived")]
    if "pdz:rows" in out:
        out["pdz:rows"] = coarse_count(out["pdz:rows"])
    if "pdz:columns" in out:
        out["pdz:columns"] = [{**c, "pii": None} for c in out["pdz:columns"]]
    out["coarse"] = True
    return out


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


def query_policies(session: Session, ds: Dataset) -> dict[str, ColumnPolicy]:
    """Each column's policy for clean-room answers: `policies_for`, and whatever says whose row it is
    (identifier or join-key role, the privacy unit, a detected direct identifier) never leaves raw."""
    _, policies = policies_for(session, ds)
    cols = session.execute(select(DatasetColumn.name, DatasetColumn.role, DatasetColumn.pii_type)
                           .where(DatasetColumn.dataset_id == ds.id)).all()
    for name, role, pii in cols:
        if policies[name].op is MaskOp.KEEP and (role in ("identifier", "join_key") or name == ds.privacy_unit
                                                 or pii in DIRECT_IDENTIFIERS):
            policies[name] = ColumnPolicy(op=MaskOp.PSEUDONYM)
    return policies


# Masking that maps distinct values to distinct values: groups never merge under it.
_INJECTIVE = frozenset({MaskOp.KEEP, MaskOp.PSEUDONYM})


def _policies(session: Session, spec: release.ReleaseSpec, datasets: list[Dataset]) -> dict[tuple[str, str],
                                                                                             ColumnPolicy]:
    by_id = {d.id: d for d in datasets}
    per_ds = {i: query_policies(session, by_id[i]) for i in set(spec.tables.values())}
    out = {}
    for alias, ds_id in spec.tables.items():
        for col, p in per_ds[ds_id].items():
            out[(alias, col)] = p
    return out


def _refuse(zh: str, en: str, code: str, **details) -> Forbidden:
    return Forbidden(zh, en, code=code, details=details)


def check_release(session: Session, spec: release.ReleaseSpec, datasets: list[Dataset]) -> str:
    """Refuse, before anything runs and from the spec alone, what the level's rules cannot release;
    return the mechanism that will make the answer releasable.

    Level 1: a column whose policy is not `keep` leaves only masked. So it may be a bare group key (the
    groups are those of the masked values) or a row column, and nothing else: a filter on it is a
    membership oracle on raw values (WHERE 姓名 = '张三' answers whether 张三 is there), an aggregate or
    an expression over it computes on raw values. Groups whose masked keys coincide must merge exactly:
    under a masking that merges values, COUNT(DISTINCT) cannot, and `suppress` depends on the data.
    """
    mech = release.mechanism(spec)
    if spec.level >= 2 and not spec.privacy_units:
        raise _refuse("第 2 级及以上的数据须声明隐私单元列，否则无法施加门限或差分隐私",
                      "data of level 2 and above needs a privacy-unit column: without one no threshold and no DP "
                      "can be applied", "privacy_unit_required")
    if mech == release.Mechanism.DP:
        if not spec.joins_on_units:
            raise _refuse("差分隐私查询只能按隐私单元列连接", "DP queries join only on privacy-unit columns",
                          "join_not_allowed")
        for o in spec.outputs:
            if o.kind == "count_distinct":
                raise _refuse("差分隐私查询不支持 COUNT(DISTINCT)（第 2 级请申请审核模板）",
                              "COUNT(DISTINCT) is not available with DP (at level 2: ask for a reviewed template)",
                              "aggregate_not_allowed", aggregate="count_distinct")
            if o.kind in ("sum", "avg", "quantile") and (o.column is None or o.bounds is None):
                raise _refuse(f"输出列 {o.name}：差分隐私聚合的参数须为声明了取值范围的原列",
                              f"output {o.name}: a DP aggregate's argument must be a bare column with declared bounds",
                              "bounds_required", column=o.name)
    if spec.level != 1:
        return mech
    pol = _policies(session, spec, datasets)
    masked = {c for c, p in pol.items() if p.op is not MaskOp.KEEP}
    hit = spec.where_sources & masked
    if hit:
        col = sorted(hit)[0][1]
        raise _refuse(f"列 {col} 只以脱敏形式提供，不能用于筛选", f"column {col} is released only masked: it cannot "
                      "be filtered on", "masked_column_in_where", column=col)
    if spec.kind == "rows":
        return mech
    merging = False
    for gi, bare in enumerate(spec.group_columns):
        srcs = spec.group_sources[gi] if gi < len(spec.group_sources) else frozenset()
        if bare is None:
            hit = srcs & masked
            if hit:
                col = sorted(hit)[0][1]
                raise _refuse(f"列 {col} 只以脱敏形式提供：只能直接按该列分组，不能按其表达式分组",
                              f"column {col} is released only masked: group by the column itself, not an "
                              "expression of it", "masked_column_expression", column=col)
            continue
        p = pol[bare]
        if p.op is MaskOp.SUPPRESS:
            raise _refuse(f"列 {bare[1]} 的脱敏方式（局部抑制）取决于数据，不能精确分组",
                          f"column {bare[1]} is masked by suppression, which depends on the data: no exact groups",
                          "masked_group_not_exact", column=bare[1])
        merging = merging or p.op not in _INJECTIVE
    for o in spec.outputs:
        if o.kind == "group":
            continue
        if o.kind == "count" and (o.star or o.column is not None):
            continue   # COUNT(*), COUNT(col): masking keeps NULL as NULL
        hit = o.sources & masked
        if hit:
            col = sorted(hit)[0][1]
            raise _refuse(f"列 {col} 只以脱敏形式提供，不能在聚合中使用", f"column {col} is released only masked: it "
                          "cannot be aggregated", "masked_column_in_aggregate", column=col)
        if merging and o.kind == "count_distinct":
            raise _refuse("分组列经脱敏后会合并分组，COUNT(DISTINCT) 无法精确合并",
                          "masked group keys merge groups, and COUNT(DISTINCT) cannot be merged exactly",
                          "masked_group_not_exact", aggregate="count_distinct")
    return mech


def _pseudonymizer(keystore: KeyStore, suite: CryptoSuite, zone: str, recipient: str) -> Pseudonymizer:
    return Pseudonymizer(_pseudonym_key(keystore, zone=zone, recipient=recipient, suite=suite.name), suite.name)


def _masked(table: pa.Table, policies: dict[str, ColumnPolicy], pseudo: Pseudonymizer) -> pa.Table:
    con = with_tables({"r": table})
    try:
        return mask_query(con, "r", list(policies), policies, pseudonymizer=pseudo)
    finally:
        con.close()


def apply_rules(session: Session, keystore: KeyStore, suite: CryptoSuite, c: release.Computed, *,
                datasets: list[Dataset], zone: str, recipient: str, k: int,
                min_rows: int | None = None) -> list[list]:
    """What may leave of what the engine computed, by the data's level (see `check_release`).

    `min_rows`: for a level-1 aggregate under a grant without the rows form, the fewest rows a released
    group stands for (see `release.exact_rows`)."""
    spec = c.spec
    mech = check_release(session, spec, datasets)
    if mech == release.Mechanism.DP:
        if c.budget is None:
            raise RuntimeError("a DP release needs its budget")  # pragma: no cover - the clean room plans it
        rows = release.dp_rows(c)
    elif mech == release.Mechanism.MASKED_ROWS:
        if spec.level != 1:
            raise _refuse(f"第 {spec.level} 级数据不提供逐行结果", f"level {spec.level} data gives no rows",
                          "rows_not_allowed", level=spec.level)
        pol = _policies(session, spec, datasets)
        policies = {c.out_cols[i]["value"]: pol[o.column] for i, o in enumerate(spec.outputs)}
        out = _masked(c.table.select(list(policies)), policies, _pseudonymizer(keystore, suite, zone, recipient))
        data = out.to_pydict()
        rows = [[release.json_value(data[col][r]) for col in policies] for r in range(out.num_rows)]
    elif mech == release.Mechanism.EXACT:
        table = c.table
        pol = _policies(session, spec, datasets)
        keyed = {c.group_cols[gi]: pol[bare] for gi, bare in enumerate(spec.group_columns)
                 if bare is not None and pol[bare].op is not MaskOp.KEEP}
        if keyed and table.num_rows:
            out = _masked(table.select(list(keyed)), keyed, _pseudonymizer(keystore, suite, zone, recipient))
            for name in keyed:   # the groups are those of the masked values (merged in exact_rows)
                table = table.set_column(table.column_names.index(name), name, out.column(name))
        rows = release.exact_rows(c, table, k=None, min_rows=min_rows)
    else:
        rows = release.exact_rows(c, c.table, k=k)
    return release.order_and_limit(spec, rows)


def costs(c: release.Computed) -> tuple[int, int]:
    """(nano-ε, femto-δ) an answer spends: only a DP release spends any."""
    b = c.budget
    if b is None or release.mechanism(c.spec) != release.Mechanism.DP:
        return 0, 0
    return gr.to_nano(b.epsilon), gr.to_femto(b.delta) if b.delta else 0


def release_computed(session: Session, keystore: KeyStore, suite: CryptoSuite, *, actor: Actor, grant,
                     datasets: list[Dataset], computed: release.Computed, columns: list[str], details: dict,
                     recipient: str, k: int, min_rows: int | None = None,
                     seal: Callable[[list[list]], tuple[str, bytes]] | None = None) -> tuple[list[list], dict]:
    """The clean room's door: apply the level's rules to what the engine computed, charge the budget,
    keep the answer, audit, and return (rows, receipt).

    All in the caller's transaction, committed before the first byte of the answer leaves: the ε and δ
    charge (grant and each dataset account), the stored answer (unique per grant and normalized
    query, so a concurrent twin fails here rather than releasing fresh, uncharged noise) and the
    audit event with the query hash, datasets, scenario, ε, rows out and a digest of the result.
    """
    _check_live(grant, datasets)
    rows = apply_rules(session, keystore, suite, computed, datasets=datasets, zone=grant.zone_code,
                       recipient=recipient, k=k, min_rows=min_rows)
    eps_n, delta_f = costs(computed)
    receipt = _release(session, suite, actor=actor, grant=grant, datasets=datasets, columns=columns, rows=rows,
                       epsilon_nano=eps_n, delta_femto=delta_f,
                       details={**details, "mechanism": release.mechanism(computed.spec)},
                       store_answer=seal(rows) if seal is not None else None)
    return rows, receipt


def release_stored(session: Session, suite: CryptoSuite, *, actor: Actor, grant, datasets: list[Dataset],
                   columns: list[str], rows: list[list], details: dict) -> dict:
    """An answer released before (the gate's own output, sealed), served again at no charge."""
    _check_live(grant, datasets)
    return _release(session, suite, actor=actor, grant=grant, datasets=datasets, columns=columns, rows=rows,
                    epsilon_nano=0, delta_femto=0, details=details, store_answer=None)


def _check_live(grant, datasets: list[Dataset]) -> None:
    for ds in datasets:
        cat.check_operable(ds)
    if grant.revoked or (grant.expires_at is not None and grant.expires_at <= utcnow()):
        raise Forbidden("授权已到期或被撤销", "the grant has expired or was revoked", code="grant_expired")


def _release(session: Session, suite: CryptoSuite, *, actor: Actor, grant, datasets: list[Dataset],
             columns: list[str], rows: list[list], epsilon_nano: int, delta_femto: int, details: dict,
             store_answer: tuple[str, bytes] | None) -> dict:
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
