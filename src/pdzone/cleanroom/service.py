"""Clean-room queries end to end: grant → analysis → (approval) → engine → egress gate.

    prepare()   no data touched: the grant, the plan and its release spec, the mechanism, ε and its
                split, the approval state
    run()       the answer: from the answer store at no charge, or computed in the engine and handed,
                exact, to the egress gate, which applies the level's release rules and charges
    dry_run()   what a query would cost and how accurate it would be, without touching data
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlglot import exp

from pdzone.audit.events import Action, Actor, flush_events, record
from pdzone.audit.models import AuditEvent
from pdzone.catalog import access
from pdzone.catalog import actions as cat
from pdzone.catalog.models import Dataset, DatasetColumn
from pdzone.cleanroom import allow, rewrite
from pdzone.cleanroom.analysis import ColumnInfo, Plan, TableInfo, _Resolver, analyze
from pdzone.cleanroom.engines import EngineFailure, QueryEngine, TableRef
from pdzone.cleanroom.models import CleanroomQuery
from pdzone.config import Settings
from pdzone.crypto import CryptoSuite, KeyStore
from pdzone.dataplane.sealed import seal, unseal
from pdzone.dataplane.storage import DatasetStorage
from pdzone.db import Store, utcnow
from pdzone.egress import gate, release
from pdzone.egress import grants as gr
from pdzone.egress.models import Grant, StoredAnswer
from pdzone.errors import Forbidden, Invalid, NotFound, PdzoneError
from pdzone.identity.auth import Principal
from pdzone.identity.roles import Perm


@dataclass
class Env:
    """What a query needs from the runtime (the web layer and the CLI build it)."""

    store: Store
    keystore: KeyStore
    suite: CryptoSuite
    datasets: DatasetStorage
    engine: QueryEngine
    settings: Settings


@dataclass
class Prepared:
    grant: Grant
    scenario: str
    plan: Plan
    spec: release.ReleaseSpec
    datasets: list[Dataset]
    epsilon: Decimal               # what the query spends (0 unless answered with DP)
    budget: release.Budgeting | None
    approval_key: str
    answer_key: str

    @property
    def mechanism(self) -> str:
        return release.mechanism(self.spec)


def _table_info(session: Session, ds: Dataset, cols: list | None = None) -> TableInfo:
    if cols is None:
        cols = session.scalars(select(DatasetColumn).where(DatasetColumn.dataset_id == ds.id)
                               .order_by(DatasetColumn.position)).all()
    info = {c.name: ColumnInfo(c.name, c.type, c.role,
                               (c.bounds_lo, c.bounds_hi) if c.bounds_lo is not None and c.bounds_hi is not None
                               else None,
                               tuple(json.loads(c.public_values)) if c.public_values else None, c.pii_type)
            for c in cols}
    return TableInfo(ds.name, ds.id, ds.version, gate.effective_level(ds), ds.privacy_unit, ds.max_contributions or 1,
                     info)


def granted(session: Session, grant: Grant) -> tuple[dict[str, TableInfo], dict[str, Dataset]]:
    out, by_name = {}, {}
    # never in operation, whatever a grant says
    datasets = [ds for ds in gr.grant_datasets(session, grant) if not ds.r28_reason]
    cols: dict[int, list] = {ds.id: [] for ds in datasets}
    C = DatasetColumn
    # every granted dataset's columns in one round trip, as plain rows (ORM objects cost ~0.1 ms each)
    for c in session.execute(select(C.dataset_id, C.name, C.type, C.role, C.bounds_lo, C.bounds_hi, C.public_values,
                                    C.pii_type).where(C.dataset_id.in_(list(cols))).order_by(C.dataset_id, C.position)):
        cols[c.dataset_id].append(c)
    for ds in datasets:
        out[ds.name] = _table_info(session, ds, cols[ds.id])
        by_name[ds.name] = ds
    return out, by_name


def _hash(*parts) -> str:
    return hashlib.sha256("\x1e".join(str(p) for p in parts).encode()).hexdigest()


def release_spec(plan: Plan, *, template: bool = False) -> release.ReleaseSpec:
    """The description of a checked plan that the egress gate releases by (no SQL, public parameters)."""
    res = _Resolver(plan.tables)

    def cols(e: exp.Expression | None) -> frozenset[tuple[str, str]]:
        if e is None:
            return frozenset()
        out = set()
        for c in e.find_all(exp.Column):
            alias, info = res.column(c)
            out.add((alias, info.name))
        return frozenset(out)

    def bare(e: exp.Expression) -> tuple[str, str] | None:
        if isinstance(e, exp.Column):
            alias, info = res.column(e)
            return alias, info.name
        return None

    group_columns = tuple(bare(g) for g in plan.group_by)
    outputs = tuple(release.OutputSpec(o.name, o.kind, group_index=o.group_index, column=o.column,
                                       star=o.kind == "count" and isinstance(o.expr, exp.Star), bounds=o.bounds,
                                       q=o.q, sources=cols(o.expr)) for o in plan.outputs)
    on_units = all(plan.tables[a].privacy_unit == c for on in (j for _, j in plan.joins)
                   for a, c in (bare(on.this), bare(on.expression)) if a is not None) if plan.joins else True
    return release.ReleaseSpec(
        kind=plan.kind, level=plan.level, outputs=outputs,
        tables={a: t.dataset_id for a, t in plan.tables.items()}, group_columns=group_columns,
        group_sources=tuple(cols(g) for g in plan.group_by), group_public=tuple(plan.group_public),
        group_types=tuple(plan.tables[b[0]].columns[b[1]].type if b else None for b in group_columns),
        where_sources=cols(plan.where), joins_on_units=on_units,
        privacy_units=all(t.privacy_unit for t in plan.tables.values()), order=tuple(plan.order), limit=plan.limit,
        contributions=max(t.max_contributions for t in plan.tables.values()), template=template)


def templates_of(grant: Grant) -> dict[str, dict]:
    """The grant's reviewed templates by hash (older entries are bare hashes of level-4 templates)."""
    out = {}
    for t in json.loads(grant.preapproved or "[]"):
        if isinstance(t, str):
            out[t] = {"template": t}
        else:
            out[t["template"]] = t
    return out


def level1_min_group(settings: Settings, p: Prepared) -> int | None:
    """The fewest rows a released group of a level-1 exact aggregate stands for, where the grant withholds
    rows (no `rows` form); None where no such threshold applies (rows granted, no GROUP BY, other levels)."""
    if p.mechanism != release.Mechanism.EXACT or p.plan.kind != "aggregate" or not p.plan.group_by:
        return None
    if gr.ReleaseForm.ROWS.value in gr.forms_of(p.grant):
        return None
    return settings.cleanroom_min_group_level1


def prepare(session: Session, settings: Settings, principal: Principal, *, sql: str, scenario: str,
            epsilon=None) -> Prepared:
    grant = gr.active_grant(session, org_id=principal.org_id, scenario_code=scenario)
    access.check(session, principal, Perm.CLEANROOM_QUERY, grant.zone_code)
    tables, by_name = granted(session, grant)
    plan = analyze(sql, tables, default_limit=settings.cleanroom_max_rows)
    forms = gr.forms_of(grant)
    if plan.kind == "rows":
        if plan.level > 1:
            raise Forbidden(f"第 {plan.level} 级数据不提供逐行结果，只能查询聚合统计",
                            f"level {plan.level} data gives no rows: ask for aggregates", code="rows_not_allowed",
                            details={"level": plan.level})
        if gr.ReleaseForm.ROWS.value not in forms:
            raise Forbidden("授权不包含逐行结果", "the grant does not include row results", code="form_not_granted",
                            details={"form": "rows"})
    elif gr.ReleaseForm.AGGREGATE.value not in forms:
        raise Forbidden("授权不包含聚合统计", "the grant does not include aggregates", code="form_not_granted",
                        details={"form": "aggregate"})
    datasets = [by_name[t.name] for t in plan.tables.values()]
    # level 2: exact (with the k threshold) only for a template the security admin reviewed for this grant
    template = plan.level == 2 and plan.kind == "aggregate" and \
        templates_of(grant).get(template_hash(plan), {}).get("level") == 2
    spec = release_spec(plan, template=template)
    for t in plan.tables.values():
        if t.level >= 2 and not t.privacy_unit:
            raise Forbidden(f"数据集 {t.name} 未声明隐私单元列，不能施加门限或差分隐私",
                            f"dataset {t.name} has no privacy-unit column: no threshold and no DP can be applied",
                            code="privacy_unit_required", details={"dataset": t.name})
    mech = gate.check_release(session, spec, datasets)
    budget = None
    eps = Decimal(0)
    if epsilon is not None:
        gr.parse_epsilon(epsilon)  # validated whatever the mechanism (exact answers spend none)
    if mech == release.Mechanism.DP:
        eps = gr.choose_epsilon(grant, epsilon)
        min_group = {2: settings.cleanroom_min_group_level2, 3: settings.cleanroom_min_group_level3}.get(
            plan.level, settings.cleanroom_min_group_level4)
        budget = release.plan_budget(spec, eps, delta=settings.cleanroom_delta_per_query, min_group=min_group)
    approval_key = _hash("approval", grant.id, plan.normalized, eps)
    answer_key = _hash("answer", plan.normalized, gr.to_nano(eps))  # 0.5 and 0.50 are one ε
    return Prepared(grant, scenario, plan, spec, datasets, eps, budget, approval_key, answer_key)


def dry_run(env: Env, principal: Principal, *, sql: str, scenario: str, epsilon=None) -> dict:
    """Cost and accuracy before spending: ε split, noise scales, expected error. No data is read."""
    with env.store.sessions() as s:
        p = prepare(s, env.settings, principal, sql=sql, scenario=scenario, epsilon=epsilon)
        left = gr.budget_view(s, p.grant)
        stored = s.scalar(select(StoredAnswer.id).where(StoredAnswer.grant_id == p.grant.id,
                                                        StoredAnswer.query_key == p.answer_key)) is not None
        out = {"scenario": scenario, "grant_id": p.grant.id, "level": p.plan.level, "mechanism": p.mechanism,
               "datasets": [d.name for d in p.datasets], "columns": [o.name for o in p.plan.outputs],
               "sources": p.plan.sources, "epsilon": str(p.epsilon), "epsilon_left": left["epsilon_left"],
               "needs_approval": p.plan.level >= 4 and p.plan.kind == "aggregate" and not _approved(s, p),
               "answered_before": stored, "would_charge": "0" if stored else str(p.epsilon)}
        if p.budget is not None:
            out["budget"] = p.budget.as_dict()
        if p.mechanism == release.Mechanism.THRESHOLD:
            out["k"] = env.settings.cleanroom_k
        if (m := level1_min_group(env.settings, p)) is not None:
            out["min_group"] = m
        return out


def _approved(session: Session, p: Prepared) -> bool:
    if p.plan.level < 4 or p.plan.kind != "aggregate":
        return True
    if template_hash(p.plan) in templates_of(p.grant):
        return True
    return session.scalar(select(CleanroomQuery.id).where(CleanroomQuery.grant_id == p.grant.id,
                                                          CleanroomQuery.approval_key == p.approval_key,
                                                          CleanroomQuery.status == "approved")) is not None


def template_hash(plan: Plan) -> str:
    return _hash("template", plan.normalized)


def _answer_key_bytes(session: Session, env: Env, datasets: list[Dataset]) -> bytes:
    """The key a stored answer is sealed under: bound to every dataset it read (shred one, lose it)."""
    key = b"pdzone:answer"
    for ds in sorted(datasets, key=lambda d: d.id):
        key = env.suite.hmac(cat.data_key(session, env.keystore, env.suite, ds), key)
    return key[:env.suite.data_key_len]


def _from_store(session: Session, env: Env, p: Prepared, actor: Actor) -> dict | None:
    row = session.scalar(select(StoredAnswer).where(StoredAnswer.grant_id == p.grant.id,
                                                    StoredAnswer.query_key == p.answer_key))
    if row is None:
        return None
    data = json.loads(unseal(env.suite, _answer_key_bytes(session, env, p.datasets), row.sealed,
                             context={"answer": p.answer_key}))
    receipt = gate.release_stored(session, env.suite, actor=actor, grant=p.grant, datasets=p.datasets,
                                  columns=[o.name for o in p.plan.outputs], rows=data["rows"],
                                  details={"scenario": p.scenario, "query_hash": p.answer_key,
                                           "from_store": True, "first_event": row.event_id,
                                           "level": p.plan.level, "mechanism": p.mechanism})
    receipt.update(data["receipt_public"], from_store=True, epsilon_spent="0", first_event_id=row.event_id)
    return {"columns": [o.name for o in p.plan.outputs], "rows": data["rows"], "receipt": receipt}


def _table_refs(session: Session, env: Env, p: Prepared) -> tuple[dict[str, str], dict[str, TableRef], bool]:
    """Engine table names per alias and how to load them (a single DP dataset: its bounded copy)."""
    bounded = p.mechanism == release.Mechanism.DP and p.plan.single
    names, refs = {}, {}
    for alias, t in p.plan.tables.items():
        ds = next(d for d in p.datasets if d.id == t.dataset_id)
        key = cat.data_key(session, env.keystore, env.suite, ds)
        if bounded:
            L = t.max_contributions
            name = f"t{ds.id}_v{ds.version}_b{L}"

            def load(ds=ds, key=key, L=L, pu=t.privacy_unit):
                return bounded_copy(env, ds, key, L, pu)[0]
            refs[name] = TableRef(name, (ds.id, ds.version, f"b{L}"), load)
        else:
            name = f"t{ds.id}_v{ds.version}"

            def load(ds=ds, key=key):
                return env.datasets.read(ds.id, ds.version, key)
            refs[name] = TableRef(name, (ds.id, ds.version, "raw"), load)
        names[alias] = name
    return names, refs, bounded


def bounded_copy(env: Env, ds: Dataset, key: bytes, L: int, privacy_unit: str) -> tuple[pa.Table, bool]:
    """At most L rows per person, chosen at random once per version, sealed under the dataset key."""

    def build() -> pa.Table:
        return bound_contributions(env.datasets.read(ds.id, ds.version, key), privacy_unit, L)
    with _BUILD_GUARD:   # queries arriving together build it once (per process), not once each
        lock = _BUILDS.setdefault((str(env.datasets.root), ds.id, ds.version, int(L)), threading.Lock())
    with lock:
        return env.datasets.read_derived(ds.id, ds.version, f"bounded{int(L)}", key, build)


_BUILD_GUARD = threading.Lock()
_BUILDS: dict[tuple, threading.Lock] = {}


def bound_contributions(table: pa.Table, privacy_unit: str, L: int, rng: np.random.Generator | None = None
                        ) -> pa.Table:
    """Keep at most L rows of each privacy unit (NULL counts as one unit), chosen uniformly at random.

    Sorted by (unit, random key) and ranked within each unit, in NumPy: a window in DuckDB does the
    same but needs several times the table in memory (10M rows overflow the engine's 2 GB).
    The kept rows stay in their original order.
    """
    n = table.num_rows
    if n == 0:
        return table
    rng = rng or np.random.default_rng()   # seeded from the operating system's entropy
    unit = table.column(privacy_unit).combine_chunks()
    codes = pc.dictionary_encode(unit, null_encoding="encode").indices.to_numpy(zero_copy_only=False)
    order = np.argsort((codes.astype(np.int64) << 32) | rng.integers(0, 2**32, n, dtype=np.int64))
    sorted_codes = codes[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(sorted_codes[1:], sorted_codes[:-1], out=starts[1:])
    pos = np.arange(n)
    rank = pos - np.maximum.accumulate(np.where(starts, pos, 0))
    keep = np.zeros(n, dtype=bool)
    keep[order[rank < int(L)]] = True
    return table.filter(pa.array(keep))


def _engine_sql(env: Env, tree) -> str:
    # every identifier quoted: Spark refuses unquoted Chinese names, PostgreSQL folds unquoted ones to lower case
    sql = tree.sql(dialect=env.engine.dialect, identify=True)
    # checked again, as it runs: transpiling must not bring in anything outside the allow-list
    allow.check(sqlglot.parse_one(sql, read=env.engine.dialect), allow.ENGINE_NODES, max_nodes=20_000)
    return sql




def _costs(p: Prepared) -> tuple[int, int]:
    """(nano-ε, femto-δ) the query spends."""
    return gr.to_nano(p.epsilon), gr.to_femto(p.budget.delta) if p.budget is not None and p.budget.delta else 0


def _stored(session: Session, p: Prepared) -> bool:
    return session.scalar(select(StoredAnswer.id).where(StoredAnswer.grant_id == p.grant.id,
                                                        StoredAnswer.query_key == p.answer_key)) is not None


def run(env: Env, principal: Principal, actor: Actor, *, sql: str, scenario: str, epsilon=None) -> dict:
    """Answer a query, or hold it for approval (level 4): returns the API's 200 or 202 body."""
    # Reads only, first: on SQLite a write transaction holds the store's one write lock, and analysing
    # under it queued every query of every worker behind each other (200 at once outwaited the busy
    # timeout). A stored answer to serve or a query to hold is written in a write transaction below.
    with env.store.sessions() as s:
        p = prepare(s, env.settings, principal, sql=sql, scenario=scenario, epsilon=epsilon)
        eps_n, delta_f = _costs(p)
        write = _stored(s, p) or not _approved(s, p)
        if not write:
            gr.check_affordable(s, p.grant, p.datasets, eps_n, delta_f)
            names, refs, bounded = _table_refs(s, env, p)
    if write:
        with env.store.transaction() as s:
            p = prepare(s, env.settings, principal, sql=sql, scenario=scenario, epsilon=epsilon)
            hit = _from_store(s, env, p, actor)
            if hit is not None:
                return hit
            eps_n, delta_f = _costs(p)
            if not _approved(s, p):
                return _hold(s, p, principal, actor, sql)
            gr.check_affordable(s, p.grant, p.datasets, eps_n, delta_f)
            names, refs, bounded = _table_refs(s, env, p)
    mech = p.mechanism
    ex = rewrite.build(p.plan, names, dp=mech == release.Mechanism.DP, bounded_single=bounded,
                       k_unit=mech == release.Mechanism.THRESHOLD,
                       candidates=p.budget.candidates if p.budget else None,
                       max_rows=p.plan.limit if p.plan.kind == "rows" else None,
                       avg_parts=mech == release.Mechanism.EXACT)
    try:
        table = env.engine.execute(_engine_sql(env, ex.tree), refs, timeout_s=env.settings.cleanroom_timeout_s)
        computed = release.Computed(p.spec, table, ex.group_cols, ex.out_cols, ex.k_col, p.budget)
    except (EngineFailure, ArithmeticError, ValueError, TypeError, KeyError, RuntimeError) as e:
        return _fail(env, p, actor, eps_n, delta_f, type(e).__name__)
    columns = [o.name for o in p.plan.outputs]
    public = {"scenario": p.scenario, "level": p.plan.level, "mechanism": p.mechanism,
              "query_hash": p.answer_key}
    if p.budget is not None:
        public["budget"] = p.budget.as_dict()
    if mech == release.Mechanism.THRESHOLD:
        public["k"] = env.settings.cleanroom_k   # only where the k threshold ran
    min_rows = level1_min_group(env.settings, p)
    if min_rows is not None:
        public["min_group"] = min_rows   # level 1 without the rows form: groups of fewer rows withheld
    try:
        with env.store.transaction() as s:
            grant = s.get(Grant, p.grant.id)
            datasets = [s.get(Dataset, d.id) for d in p.datasets]

            def sealer(rows: list[list], s=s, datasets=datasets) -> tuple[str, bytes]:
                return p.answer_key, seal(env.suite, _answer_key_bytes(s, env, datasets),
                                          json.dumps({"rows": rows, "receipt_public": public},
                                                     ensure_ascii=False).encode(), context={"answer": p.answer_key})
            rows, receipt = gate.release_computed(s, env.keystore, env.suite, actor=actor, grant=grant,
                                                  datasets=datasets, computed=computed, columns=columns,
                                                  details={**public, "sql_sha256": _hash(sql)},
                                                  recipient=f"org:{principal.org_id}", k=env.settings.cleanroom_k,
                                                  min_rows=min_rows, seal=sealer)
            _mark_answered(s, p, receipt["event_id"])
    except (ArithmeticError, ValueError, TypeError, KeyError, RuntimeError) as e:
        # applying the level's rules is total by construction (refused up front otherwise); should a value
        # still trip it, the answer is the withheld one, as for an engine failure: never a data-dependent error
        return _fail(env, p, actor, eps_n, delta_f, type(e).__name__)
    except IntegrityError:
        # a twin of this query was answered meanwhile: serve that answer, charge nothing
        with env.store.transaction() as s:
            p.grant = s.get(Grant, p.grant.id)
            p.datasets = [s.get(Dataset, d.id) for d in p.datasets]
            hit = _from_store(s, env, p, actor)
        if hit is None:  # pragma: no cover - the twin's row must exist once its insert won
            raise
        return hit
    receipt.update(public, from_store=False)
    return {"columns": columns, "rows": rows, "receipt": receipt}


def _hold(s: Session, p: Prepared, principal: Principal, actor: Actor, sql: str) -> dict:
    q = s.scalar(select(CleanroomQuery).where(CleanroomQuery.grant_id == p.grant.id,
                                              CleanroomQuery.approval_key == p.approval_key,
                                              CleanroomQuery.status == "pending"))
    if q is None:
        q = CleanroomQuery(grant_id=p.grant.id, user_id=principal.user_id, scenario=p.scenario, sql=sql,
                           approval_key=p.approval_key, epsilon=gr.to_nano(p.epsilon), level=p.plan.level,
                           status="pending", created_at=utcnow())
        try:
            with s.begin_nested():
                s.add(q)
        except IntegrityError:  # a twin held it meanwhile (one pending per key, a unique index): that hold
            return _hold(s, p, principal, actor, sql)
        record(s, actor=actor, action=Action.QUERY_HOLD, target_type="query", target_id=str(q.id),
               zone=p.grant.zone_code, details={"scenario": p.scenario, "epsilon": str(p.epsilon),
                                                "datasets": [d.name for d in p.datasets],
                                                "sql_sha256": _hash(sql)})
    return {"query_id": q.id, "status": "pending"}


def _mark_answered(s: Session, p: Prepared, event_id: int | None) -> None:
    q = s.scalar(select(CleanroomQuery).where(CleanroomQuery.grant_id == p.grant.id,
                                              CleanroomQuery.approval_key == p.approval_key,
                                              CleanroomQuery.status == "approved"))
    if q is not None:
        q.status, q.event_id = "answered", event_id


def _withheld_rows(p: Prepared) -> list[list]:
    """The rows a success would have, values withheld (None), from public parameters only.

    No GROUP BY: one row (none under a reviewed template's k threshold: its one cell may be below k).
    Group keys that are all public under DP: the public grid, as a success releases it. Otherwise (DP
    partition selection, exact groups, row results) no rows: which keys a success holds depends on the
    data (and on noise), so the answer that gives nothing away is the empty one."""
    plan = p.plan
    if plan.kind == "rows":
        return []
    if not plan.group_by:
        return [] if p.mechanism == release.Mechanism.THRESHOLD else [[None] * len(plan.outputs)]
    grid = p.budget.grid if p.budget is not None else None
    if grid is None:
        return []
    return [[release.json_value(key[o.group_index]) if o.kind == "group" else None for o in plan.outputs]
            for key in grid]


def _fail(env: Env, p: Prepared, actor: Actor, eps_n: int, delta_f: int, reason: str) -> dict:
    """An accepted query that fails anyway (time limit, resources, an engine fault the analysis did not
    foresee) answers as a success does: the same status and the same columns and rows, values withheld,
    its budget spent, so that failing is no oracle (R-25). The failure is in the operation log, and
    repeated failures of one grant within a window raise `cleanroom.query.alert` for the security admin."""
    columns = [o.name for o in p.plan.outputs]
    rows = release.order_and_limit(p.spec, _withheld_rows(p))
    settings = env.settings
    with env.store.transaction() as s:
        grant = s.get(Grant, p.grant.id)
        datasets = [s.get(Dataset, d.id) for d in p.datasets]
        if eps_n or delta_f:
            with contextlib.suppress(PdzoneError):
                gr.charge(s, grant, datasets, eps_n, delta_f)
        ev = record(s, actor=actor, action=Action.QUERY_FAIL, target_type="grant", target_id=str(grant.id),
                    zone=grant.zone_code, outcome="failed",
                    details={"scenario": p.scenario, "query_hash": p.answer_key, "epsilon": str(p.epsilon),
                             "reason": reason, "rows": len(rows), "columns": columns})
        flush_events(s)
        since = utcnow() - dt.timedelta(seconds=settings.cleanroom_fail_alert_window_s)
        failures = s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == Action.QUERY_FAIL.value, AuditEvent.target_type == "grant",
            AuditEvent.target_id == str(grant.id), AuditEvent.occurred_at >= since)) or 0
        threshold = settings.cleanroom_fail_alert_threshold
        if failures >= threshold and (failures - threshold) % threshold == 0:   # at the threshold, then every N
            record(s, actor=actor, action=Action.QUERY_ALERT, target_type="grant", target_id=str(grant.id),
                   zone=grant.zone_code, outcome="failed",
                   details={"scenario": p.scenario, "failures": failures,
                            "window_s": settings.cleanroom_fail_alert_window_s, "last_reason": reason})
            flush_events(s)
        s.refresh(grant)
        receipt = {"event_id": ev.id, "seq": None, "grant_id": grant.id, "digest": gate.digest_rows(
                       env.suite, columns, rows), "rows": len(rows), "epsilon_spent": str(p.epsilon),
                   "epsilon_left": str(gr.from_nano(grant.epsilon_total - grant.epsilon_spent)),
                   "delta_spent": float(delta_f) * 1e-15, "released_at": utcnow().isoformat(),
                   "datasets": {d.name: d.version for d in datasets}}
    receipt.update({"scenario": p.scenario, "level": p.plan.level, "mechanism": p.mechanism,
                    "query_hash": p.answer_key, "from_store": False, "withheld": True})
    if p.budget is not None:
        receipt["budget"] = p.budget.as_dict()
    if p.mechanism == release.Mechanism.THRESHOLD:
        receipt["k"] = settings.cleanroom_k   # only where the k threshold would have run
    return {"columns": columns, "rows": rows, "receipt": receipt}


def decide(env: Env, principal: Principal, actor: Actor, query_id: int, *, approve: bool, note: str = "") -> dict:
    """The security admin approves or rejects a held level-4 query (bound to its SQL, ε and parameters)."""
    with env.store.transaction() as s:
        q = s.get(CleanroomQuery, query_id)
        if q is None:
            raise NotFound(f"找不到查询 {query_id}", f"no query {query_id}", code="query_not_found")
        grant = s.get(Grant, q.grant_id)
        access.check(s, principal, Perm.CLEANROOM_APPROVE, grant.zone_code)
        if q.status != "pending":
            raise Forbidden("该查询不在待审批状态", "this query is not pending", code="not_pending",
                            details={"status": q.status})
        q.status = "approved" if approve else "rejected"
        q.note, q.decided_by, q.decided_at = note[:2000], actor.name, utcnow()
        record(s, actor=actor, action=Action.QUERY_APPROVE if approve else Action.QUERY_REJECT, target_type="query",
               target_id=str(q.id), zone=grant.zone_code, details={"note": note[:200]})
        return query_json(q)


def query_json(q: CleanroomQuery) -> dict:
    return {"query_id": q.id, "status": q.status, "scenario": q.scenario, "sql": q.sql,
            "epsilon": str(gr.from_nano(q.epsilon)), "level": q.level, "created_at": q.created_at.isoformat(),
            "decided_by": q.decided_by, "note": q.note, "event_id": q.event_id}


def find_query(session: Session, principal: Principal, query_id: int) -> CleanroomQuery:
    q = session.get(CleanroomQuery, query_id)
    if q is None:
        raise NotFound(f"找不到查询 {query_id}", f"no query {query_id}", code="query_not_found")
    grant = session.get(Grant, q.grant_id)
    if q.user_id != principal.user_id and not principal.can(Perm.CLEANROOM_APPROVE, grant.zone_code):
        raise NotFound(f"找不到查询 {query_id}", f"no query {query_id}", code="query_not_found")
    return q


def pending(session: Session, principal: Principal) -> list[dict]:
    zones = principal.zones_with(Perm.CLEANROOM_APPROVE)
    if not zones:
        return []
    rows = session.scalars(select(CleanroomQuery).where(CleanroomQuery.status == "pending")
                           .order_by(CleanroomQuery.id)).all()
    out = []
    for q in rows:
        g = session.get(Grant, q.grant_id)
        if None in zones or g.zone_code in zones:
            out.append(query_json(q))
    return out


def history(session: Session, principal: Principal, *, limit: int = 50) -> list[dict]:
    """The caller's held and answered queries (answers themselves are re-asked, never re-served here)."""
    rows = session.scalars(select(CleanroomQuery).where(CleanroomQuery.user_id == principal.user_id)
                           .order_by(CleanroomQuery.id.desc()).limit(limit)).all()
    return [query_json(q) for q in rows]


def recent_releases(session: Session, principal: Principal, *, limit: int = 20) -> list[dict]:
    """The caller's recent answers, from the operation log (what left, when, at what ε)."""
    rows = session.scalars(select(AuditEvent).where(AuditEvent.action == Action.QUERY_RELEASE.value,
                                                    AuditEvent.actor_user_id == principal.user_id)
                           .order_by(AuditEvent.id.desc()).limit(limit)).all()
    out = []
    for ev in rows:
        d = json.loads(ev.details or "{}")
        out.append({"event_id": ev.id, "seq": ev.seq, "at": ev.occurred_at.isoformat(),
                    "scenario": d.get("scenario"), "epsilon": d.get("epsilon"), "rows": d.get("rows"),
                    "datasets": d.get("datasets"), "from_store": d.get("from_store", False)})
    return out


def schema_json(session: Session, grant: Grant) -> list[dict]:
    """What a partner may know of its granted datasets to write queries: metadata only, and at level >= 3
    only coarse metadata (a rounded row count, no detection results)."""
    tables, by_name = granted(session, grant)
    out = []
    for name, t in tables.items():
        ds = by_name[name]
        coarse = t.level >= 3
        out.append({"name": name, "title": ds.title_zh, "title_en": ds.title_en, "level": t.level,
                    "privacy_unit": t.privacy_unit, "max_contributions": t.max_contributions, "version": t.version,
                    "rows": gate.coarse_count(ds.row_count) if coarse else ds.row_count, "coarse": coarse,
                    "columns": [{"name": c.name, "type": c.type, "role": c.role,
                                 "bounds": list(c.bounds) if c.bounds else None,
                                 "public_values": list(c.public_values) if c.public_values else None,
                                 "pii_type": None if coarse else c.pii_type} for c in t.columns.values()]})
    return out


def scenarios_json(session: Session) -> list[dict]:
    from pdzone.egress.models import Scenario

    return [{"code": sc.code, "zone": sc.zone_code, "name": sc.name, "category": sc.category,
             "description": sc.description} for sc in session.scalars(select(Scenario).order_by(Scenario.code))]


def receipt_status(session: Session, principal: Principal, event_id: int) -> dict:
    """A receipt's audit event, once integrated: its `seq` in the operation log (for an inclusion proof)."""
    ev = session.get(AuditEvent, event_id)
    if ev is None or ev.actor_user_id != principal.user_id or ev.action != Action.QUERY_RELEASE.value:
        raise NotFound(f"找不到回执 {event_id}", f"no receipt {event_id}", code="receipt_not_found")
    d = json.loads(ev.details or "{}")
    return {"event_id": ev.id, "seq": ev.seq, "integrated": ev.seq is not None, "at": ev.occurred_at.isoformat(),
            "digest": d.get("digest"), "epsilon": d.get("epsilon"), "rows": d.get("rows")}


def _public_parameters(plan: Plan) -> None:
    """A level-2 template's parameters are public values: its WHERE compares dimensions with literals
    from their declared public values only (=, IN, combined with AND / OR / NOT)."""
    if plan.where is None:
        return
    res = _Resolver(plan.tables)

    def bad() -> Forbidden:
        return Forbidden("模板的参数须为列声明的公开取值（仅 =、IN 及其 AND/OR/NOT 组合）",
                         "a template's parameters must be declared public values of their columns (=, IN, and "
                         "AND / OR / NOT of them)", code="template_parameter_not_public")

    def literal_in(col: exp.Expression, lits: list[exp.Expression]) -> None:
        if not isinstance(col, exp.Column):
            raise bad()
        _, info = res.column(col)
        public = {str(v) for v in info.public_values or ()}
        for lit in lits:
            while isinstance(lit, exp.TryCast | exp.Cast | exp.Paren):
                lit = lit.this
            if not isinstance(lit, exp.Literal) or str(lit.this) not in public:
                raise bad()

    def visit(e: exp.Expression) -> None:
        while isinstance(e, exp.Paren):
            e = e.this
        if isinstance(e, exp.And | exp.Or):
            visit(e.this)
            visit(e.expression)
        elif isinstance(e, exp.Not):
            visit(e.this)
        elif isinstance(e, exp.EQ):
            col, lit = (e.this, e.expression) if isinstance(e.this, exp.Column) else (e.expression, e.this)
            literal_in(col, [lit])
        elif isinstance(e, exp.In) and not e.args.get("query"):
            literal_in(e.this, list(e.expressions))
        else:
            raise bad()
    visit(plan.where)


def preapprove(env: Env, principal: Principal, actor: Actor, grant_id: int, sql: str, *, risk_note: str = "") -> dict:
    """The security admin reviews a query template for a grant (审核模板): the checked, normalized query.

    Level 4: a later query that normalizes to it runs without being held (any ε within the grant;
    its budget is checked when it runs). Level 2: it is answered exactly, groups under k privacy units
    dropped, instead of with DP; its parameters must be public values of their columns, and the review
    records the template's differencing risk (two templates whose groups differ by one person difference
    to that person: the reviewer says why the approved set does not).
    """
    with env.store.transaction() as s:
        grant = gr.find_grant(s, grant_id)
        access.check(s, principal, Perm.CLEANROOM_APPROVE, grant.zone_code)
        return do_review_template(s, env.settings, grant_id, sql, risk_note=risk_note, actor=actor)


def do_review_template(s: Session, settings: Settings, grant_id: int, sql: str, *, risk_note: str,
                       actor: Actor) -> dict:
    """Record a template review (the caller authorized it; the CLI acts with shell authority)."""
    gr.find_grant(s, grant_id)
    grant = s.scalar(select(Grant).where(Grant.id == grant_id).with_for_update()   # one review at a time
                     .execution_options(populate_existing=True))
    tables, _ = granted(s, grant)
    plan = analyze(sql, tables, default_limit=settings.cleanroom_max_rows)
    if plan.kind != "aggregate" or plan.level not in (2, 4):
        raise Invalid("只有第 2 级和第 4 级数据的聚合查询可审核为模板",
                      "only aggregate queries on level-2 or level-4 data are reviewed as templates",
                      code="template_not_applicable", details={"level": plan.level})
    note = (risk_note or "").strip()
    if plan.level == 2:
        if not note:
            raise Invalid("第 2 级模板须记录差分风险说明", "a level-2 template needs its differencing risk noted",
                          code="risk_note_required")
        _public_parameters(plan)
        spec = release_spec(plan, template=True)
        datasets = [s.get(Dataset, t.dataset_id) for t in plan.tables.values()]
        gate.check_release(s, spec, datasets)
    h = template_hash(plan)
    approved = [t for t in json.loads(grant.preapproved or "[]")
                if (t if isinstance(t, str) else t["template"]) != h]
    entry = {"template": h, "level": plan.level, "sql": sql[:20_000], "risk_note": note[:2000],
             "approved_by": actor.name, "approved_at": utcnow().isoformat()}
    approved.append(entry)
    grant.preapproved = json.dumps(approved, ensure_ascii=False)
    record(s, actor=actor, action=Action.QUERY_APPROVE, target_type="grant", target_id=str(grant.id),
           zone=grant.zone_code, details={"template": h, "level": plan.level, "sql_sha256": _hash(sql),
                                          "risk_note": note[:2000]})
    return {"grant_id": grant.id, "template": h, "level": plan.level, "templates": len(approved)}


def list_templates(session: Session, principal: Principal, grant_id: int) -> list[dict]:
    """The grant's reviewed templates, for the security admin and auditors of its zone."""
    grant = gr.find_grant(session, grant_id)
    access.check(session, principal, Perm.CLEANROOM_APPROVE, grant.zone_code)
    return list(templates_of(grant).values())
