"""Catalog actions: import, levels, R-28 flags, column decisions, proposals, destruction (R-21.4, R-27, R-28, R-32).

Decisions stay human: a detected type or a suggested level is stored as a suggestion; the level,
column roles, bounds and public values become rules only through these audited decisions.

Decisions stay with those who may decide. Whatever relaxes protection — lowering a level (an unconfirmed level
counts as 4), a column leaving `identifier`/`join_key`, any role but `identifier` on a column detected as a direct
identifier, bounds that are new or wider, public values that are new or added, a masking policy other than a
stricter one — is the decision of the providing department (own data) or the security admin, with its basis.
Operator staff can only propose it: a `Proposal` waits (pending → accepted | rejected) and the change takes
effect only when it is accepted. Changes that tighten protection apply at once, whoever makes them.

Who decides is the caller's to say (`decides=`: the web layer passes whether the principal holds
`catalog.dataset.decide` for the dataset). Left unsaid, only shell authority decides: the CLI acts as the OS
user (`os:USER@HOST`), whose word is a decision; any other actor only proposes.
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pdzone.audit.events import Action, Actor, record
from pdzone.catalog.importing import Source
from pdzone.catalog.models import Dataset, DatasetColumn, DatasetKey, DatasetVersion, Decision, Lineage, Proposal
from pdzone.crypto import CryptoSuite, KeyStore
from pdzone.dataplane import storage as ds_storage
from pdzone.db import Store, utcnow
from pdzone.errors import Conflict, Forbidden, Invalid, NotFound
from pdzone.governance.actions import find_zone
from pdzone.identity.actions import OrgKind
from pdzone.identity.models import Organization
from pdzone.protect.detect import DIRECT_IDENTIFIERS, PiiType

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class R28Reason(StrEnum):
    """R-28: data that may never be put into operation."""

    NATIONAL_SECURITY = "national_security"   # 危害国家安全
    PUBLIC_INTEREST = "public_interest"       # 损害公共利益
    AGREEMENT = "agreement"                   # 获取协议约定不得开放运营
    LAW = "law"                               # 法律法规规定不得开放运营


class ColumnRole(StrEnum):
    DIMENSION = "dimension"
    MEASURE = "measure"
    IDENTIFIER = "identifier"
    JOIN_KEY = "join_key"


class Field(StrEnum):
    """What a proposal changes."""

    LEVEL = "level"
    ROLE = "role"
    BOUNDS = "bounds"
    PUBLIC_VALUES = "public_values"
    MASK_POLICY = "mask_policy"


class ProposalState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


#: Detected types on which any role but `identifier` is a decision: the direct identifiers, and addresses.
GUARDED_PII: frozenset[str] = frozenset({t.value for t in DIRECT_IDENTIFIERS} | {PiiType.address.value})
_ROLE_RANK = {ColumnRole.IDENTIFIER.value: 2, ColumnRole.JOIN_KEY.value: 1}  # the rest, and no role: 0


def shell_authority(actor: Actor) -> bool:
    """The CLI's actor (the OS user): shell authority, whose word is a decision (see the module's docstring)."""
    return actor.name.startswith("os:") and actor.user_id is None and actor.token_id is None


def _decides(actor: Actor, decides: bool | None) -> bool:
    return shell_authority(actor) if decides is None else decides


SECTORS = ("credit", "transport", "medical", "health", "employment", "social_security", "geography", "culture",
           "education", "science", "resources", "agriculture", "environment", "work_safety", "finance", "quality",
           "statistics", "meteorology", "enterprise_registration")  # R-26 priority sectors


_RESERVED = frozenset({"import", "pending", "new", "search"})  # console and API paths beside /catalog/{name}


def check_name(name: str) -> str:
    if name in _RESERVED:
        raise Invalid(f"数据集名 {name} 为保留字", f"the dataset name {name} is reserved", code="invalid_dataset_name")
    if not _NAME.match(name or ""):
        raise Invalid("数据集名须为小写字母开头的小写字母、数字或下划线（最多 64 位）",
                      "a dataset name is [a-z][a-z0-9_]*, at most 64 characters", code="invalid_dataset_name")
    return name


def find_dataset(session: Session, name: str) -> Dataset:
    ds = session.scalar(select(Dataset).where(Dataset.name == name))
    if ds is None:
        raise NotFound(f"找不到数据集：{name}", f"no dataset named {name}", code="dataset_not_found")
    return ds


def check_operable(ds: Dataset) -> None:
    """R-28: a flagged dataset is catalogued but never enters operation (engines, previews, exports)."""
    if ds.r28_reason:
        raise Forbidden(f"该数据集依第二十八条不得开放运营（{ds.r28_reason}）",
                        f"this dataset may not be put into operation (R-28: {ds.r28_reason})",
                        code="r28_prohibited", details={"reason": ds.r28_reason})


def _check_level(level: int, basis: str) -> tuple[int, str]:
    if level not in (1, 2, 3, 4):
        raise Invalid("级别须为 1-4", "a level is 1 to 4", code="invalid_level")
    basis = (basis or "").strip()
    if not basis:
        raise Invalid("须写明定级依据", "a level needs its basis", code="basis_required")
    return level, basis


def _decide(session: Session, ds: Dataset, kind: str, value, *, actor: Actor, column: str | None = None,
            basis: str = "", data_derived: bool = False) -> Decision:
    d = Decision(dataset_id=ds.id, kind=kind, column=column, value=json.dumps(value, ensure_ascii=False),
                 basis=basis, data_derived=data_derived, decided_by=actor.name, decided_at=utcnow())
    session.add(d)
    return d


def do_import(session: Session, keystore: KeyStore, suite: CryptoSuite, store: ds_storage.DatasetStorage,
              source: Source, *, name: str, zone_code: str, provider: Organization, title: str | None,
              source_name: str, actor: Actor, level: int | None = None, basis: str = "",
              privacy_unit: str | None = None, written: list[int] | None = None,
              decides: bool | None = None) -> Dataset:
    """Bring a provider's data into the zone: encrypted under a new data key, catalogued, audited.

    A level given here is a decision only for one who decides (shell authority by default); from anyone else
    it is a proposal, and the dataset counts as level 4 until the provider or the security admin confirms it.
    The caller removes the dataset's files if the transaction does not commit (see `import_dataset`).
    """
    check_name(name)
    find_zone(session, zone_code)
    if provider.kind != OrgKind.PROVIDER:
        raise Invalid("数据须由数据提供部门提供", "the provider must be a data provider department",
                      code="invalid_provider")
    if session.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
        raise Conflict(f"数据集名已被使用：{name}", f"dataset name {name} is taken", code="dataset_exists")
    cols = source.table.column_names
    if privacy_unit is not None and privacy_unit not in cols:
        raise Invalid(f"找不到隐私单元列：{privacy_unit}", f"no column {privacy_unit} for the privacy unit",
                      code="column_not_found")
    if level is not None:
        level, basis = _check_level(level, basis)
    now = utcnow()
    ds = Dataset(name=name, zone_code=zone_code, provider_org_id=provider.id, title_zh=(title or name)[:200],
                 row_count=source.table.num_rows, version=1, privacy_unit=privacy_unit,
                 source_format=source.format, source_encoding=source.encoding, created_at=now, updated_at=now)
    session.add(ds)
    session.flush()
    if written is not None:
        written.append(ds.id)  # files follow: the caller removes them if this transaction fails
    wrapped = ds_storage.new_wrapped_key(keystore, suite, ds.id)
    session.add(DatasetKey(dataset_id=ds.id, suite=suite.name, wrapped=wrapped, created_at=now))
    _, digest = store.write(ds.id, 1, source.table, ds_storage.unwrap(keystore, suite, ds.id, wrapped))
    session.add(DatasetVersion(dataset_id=ds.id, version=1, row_count=source.table.num_rows, digest=digest,
                               source_name=source_name[:300], created_at=now, created_by=actor.name))
    for i, field in enumerate(source.table.schema):
        session.add(DatasetColumn(dataset_id=ds.id, position=i, name=field.name, type=str(field.type)))
    record(session, actor=actor, action=Action.DATASET_IMPORT, target_type="dataset", target_id=name,
           zone=zone_code, details={"rows": source.table.num_rows, "columns": len(cols), "format": source.format,
                                    "encoding": source.encoding, "source": source_name[:300], "digest": digest})
    if level is not None:
        if _decides(actor, decides):
            _set_level(session, ds, level, basis, actor=actor)
        else:  # a suggestion until someone who may decide confirms it: meanwhile the dataset counts as level 4
            _propose(session, ds, "", Field.LEVEL, level, None, actor=actor, reason=basis)
    return ds


def _set_level(session: Session, ds: Dataset, level: int, basis: str, *, actor: Actor, settle: bool = True) -> None:
    before = ds.level
    ds.level, ds.level_basis, ds.level_set_by, ds.updated_at = level, basis, actor.name, utcnow()
    _decide(session, ds, "level", level, actor=actor, basis=basis)
    record(session, actor=actor, action=Action.DATASET_SET_LEVEL, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"level": level, "before": before, "basis": basis,
                                       "suggested": ds.suggested_level})
    if settle:
        _supersede(session, ds, "", Field.LEVEL, level, basis=basis, actor=actor)


def do_set_level(session: Session, ds: Dataset, *, level: int, basis: str, actor: Actor,
                 decides: bool | None = None, proposed: list[Proposal] | None = None) -> Dataset:
    """Confirm a dataset's level (provider for own data, or the security admin): a recorded decision.

    From operator staff (`decides=False`) a level above the confirmed one tightens protection and applies at
    once; any other (lower, or on a dataset whose level nobody confirmed) is a proposal, appended to `proposed`:
    staff never confirm a level.
    """
    level, basis = _check_level(level, basis)
    decides = _decides(actor, decides)
    if decides or (ds.level is not None and level > ds.level):
        _set_level(session, ds, level, basis, actor=actor, settle=decides)
    elif level == ds.level:
        raise Invalid(f"级别已是 {level}", f"the level is {level} already", code="nothing_to_change")
    else:
        p = _propose(session, ds, "", Field.LEVEL, level, ds.level, actor=actor, reason=basis)
        if proposed is not None:
            proposed.append(p)
    return ds


def do_flag_r28(session: Session, ds: Dataset, *, reason: str, note: str = "", actor: Actor) -> Dataset:
    try:
        r = R28Reason(reason)
    except ValueError as e:
        raise Invalid(f"未知的第二十八条事由：{reason}", f"unknown R-28 reason: {reason}", code="invalid_r28_reason",
                      details={"allowed": [x.value for x in R28Reason]}) from e
    ds.r28_reason, ds.r28_note, ds.updated_at = r.value, note.strip() or None, utcnow()
    _decide(session, ds, "r28", r.value, actor=actor, basis=note)
    record(session, actor=actor, action=Action.DATASET_FLAG_R28, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"reason": r.value, "note": note})
    return ds


def _column(session: Session, ds: Dataset, column: str) -> DatasetColumn:
    col = session.scalar(select(DatasetColumn).where(DatasetColumn.dataset_id == ds.id,
                                                     DatasetColumn.name == column))
    if col is None:
        raise NotFound(f"数据集 {ds.name} 没有列 {column}", f"dataset {ds.name} has no column {column}",
                       code="column_not_found")
    return col


def _parse_role(role: str) -> str:
    try:
        return ColumnRole(role).value
    except ValueError as e:
        raise Invalid(f"未知的列角色：{role}", f"unknown column role: {role}", code="invalid_column_role",
                      details={"allowed": [r.value for r in ColumnRole]}) from e


def _parse_bounds(bounds: tuple[float, float]) -> list[float]:
    lo, hi = bounds
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise Invalid("边界须为有限数且下界小于上界", "bounds must be finite with LO < HI", code="invalid_bounds")
    return [float(lo), float(hi)]


def _parse_public_values(public_values: list[str]) -> list[str]:
    values = [v.strip() for v in public_values if v.strip()]
    if not values or len(values) > 10000 or len(set(values)) != len(values):
        raise Invalid("公开取值须为不重复的非空列表", "public values must be a non-empty list without duplicates",
                      code="invalid_public_values")
    return values


def _parse_mask_policy(ds: Dataset, col: DatasetColumn, mask_policy: dict) -> dict:
    from pdzone.protect.masking import ColumnPolicy, check_policy

    policy = check_policy(ColumnPolicy.model_validate(mask_policy), pii_type=col.pii_type, level=ds.level or 4)
    return json.loads(policy.model_dump_json())


def _current(ds: Dataset, col: DatasetColumn, field: Field):
    """The value of a column's field in force now (for a masking policy: the default when none was set)."""
    if field is Field.ROLE:
        return col.role
    if field is Field.BOUNDS:
        return [col.bounds_lo, col.bounds_hi] if col.bounds_lo is not None else None
    if field is Field.PUBLIC_VALUES:
        return json.loads(col.public_values) if col.public_values else None
    from pdzone.protect.masking import ColumnPolicy, default_policy

    policy = (ColumnPolicy.model_validate_json(col.mask_policy) if col.mask_policy
              else default_policy(col.pii_type, ds.level or 4))
    return json.loads(policy.model_dump_json())


def relaxes(ds: Dataset, col: DatasetColumn, field: Field, value) -> bool:
    """Whether setting `field` of `col` to `value` (already parsed) relaxes protection.

    pdzone does not rank masking operators against one another: only `redact`, or masking a column that was
    kept, tightens; any other change of operator or parameters is a decision. Keeping what is in force never
    relaxes anything.
    """
    if value == _current(ds, col, field):
        return False
    if field is Field.ROLE:
        if col.pii_type in GUARDED_PII and value != ColumnRole.IDENTIFIER.value:
            return True
        return _ROLE_RANK.get(value, 0) < _ROLE_RANK.get(col.role or "", 0)
    if field is Field.BOUNDS:
        return col.bounds_lo is None or value[0] < col.bounds_lo or value[1] > col.bounds_hi
    if field is Field.PUBLIC_VALUES:
        return col.public_values is None or not set(value) <= set(json.loads(col.public_values))
    if field is Field.MASK_POLICY:
        current = _current(ds, col, field)
        if value["op"] == "redact":
            return False
        return not (current["op"] == "keep" and value["op"] != "keep")
    raise AssertionError(field)


def _apply(session: Session, ds: Dataset, col: DatasetColumn, field: Field, value, *, actor: Actor,
           basis: str, settle: bool) -> None:
    """Put a (parsed) column value in force, with its decision row. A decision (`settle`) also settles the
    proposal waiting on the field; staff tightening a field leave it waiting for the decision."""
    if field is Field.ROLE:
        col.role = value
    elif field is Field.BOUNDS:
        col.bounds_lo, col.bounds_hi = value
    elif field is Field.PUBLIC_VALUES:
        col.public_values = json.dumps(value, ensure_ascii=False)
    elif field is Field.MASK_POLICY:
        col.mask_policy = json.dumps(value, ensure_ascii=False)
    _decide(session, ds, field.value, value, actor=actor, column=col.name, basis=basis)
    if settle:
        _supersede(session, ds, col.name, field, value, basis=basis, actor=actor)


def _audit_value(field: Field, value):
    return len(value) if field is Field.PUBLIC_VALUES else value


def do_set_column(session: Session, ds: Dataset, column: str, *, actor: Actor, role: str | None = None,
                  bounds: tuple[float, float] | None = None, public_values: list[str] | None = None,
                  mask_policy: dict | None = None, basis: str = "", decides: bool | None = None,
                  proposed: list[Proposal] | None = None) -> DatasetColumn:
    """Decide what a column may be used for: its role, the bounds and public values DP needs, its masking.

    Bounds and public values must come from policy or public code lists (e.g. GB/T 2260), never from
    the data itself: this decision records them as given by a person, with their basis. A change that
    relaxes protection (`relaxes`) needs a basis from one who decides; from anyone else it becomes a
    pending proposal (appended to `proposed`) and the column keeps what it had.
    """
    col = _column(session, ds, column)
    wanted: list[tuple[Field, object]] = []
    if role is not None:
        wanted.append((Field.ROLE, _parse_role(role)))
    if bounds is not None:
        wanted.append((Field.BOUNDS, _parse_bounds(bounds)))
    if public_values is not None:
        wanted.append((Field.PUBLIC_VALUES, _parse_public_values(public_values)))
    if mask_policy is not None:
        wanted.append((Field.MASK_POLICY, _parse_mask_policy(ds, col, mask_policy)))
    if not wanted:
        raise Invalid("未给出任何更改", "nothing to change", code="nothing_to_change")
    decides = _decides(actor, decides)
    basis = (basis or "").strip()
    changes: dict = {}
    for field, value in wanted:
        relaxing = relaxes(ds, col, field, value)
        if relaxing and not decides:
            p = _propose(session, ds, column, field, value, _current(ds, col, field), actor=actor, reason=basis)
            if proposed is not None:
                proposed.append(p)
            continue
        if relaxing and not basis:
            raise Invalid("放宽保护的决定须写明依据", "a decision that relaxes protection needs its basis",
                          code="basis_required", details={"field": field.value, "column": column})
        _apply(session, ds, col, field, value, actor=actor, basis=basis, settle=decides)
        changes[field.value] = _audit_value(field, value)
    if changes:
        ds.updated_at = utcnow()
        record(session, actor=actor, action=Action.DATASET_COLUMN, target_type="dataset", target_id=ds.name,
               zone=ds.zone_code, details={"column": column, **changes})
    return col


# --- proposals -------------------------------------------------------------------------------

def _propose(session: Session, ds: Dataset, column: str, field: Field, value, before, *, actor: Actor,
             reason: str) -> Proposal:
    """Record a pending proposal with its audit event. At most one waits per (dataset, column, field): the
    partial unique index `uq_catalog_proposal_pending` decides between concurrent proposers."""
    session.flush()  # what came before is not this insert's conflict
    name = ds.name  # read now: after a failed flush the session can load nothing
    p = Proposal(dataset_id=ds.id, column=column, field=field.value,
                 value=json.dumps(value, ensure_ascii=False), before=json.dumps(before, ensure_ascii=False),
                 state=ProposalState.PENDING.value, reason=(reason or "").strip(), proposed_by=actor.name,
                 proposed_by_user_id=actor.user_id, proposed_at=utcnow())
    session.add(p)
    try:
        session.flush()
    except IntegrityError as e:
        raise Conflict(f"{column or name} 的 {field.value} 已有一项待决的提议",
                       f"a proposal on {field.value} of {column or name} is already pending",
                       code="proposal_pending", details={"dataset": name, "column": column or None,
                                                         "field": field.value}) from e
    record(session, actor=actor, action=Action.PROPOSAL_CREATE, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"proposal": p.id, "column": column or None, "field": field.value,
                                       "value": _audit_value(field, value), "reason": p.reason})
    return p


def _close(session: Session, p_id: int, state: ProposalState, *, actor: Actor, basis: str) -> bool:
    """pending → accepted | rejected, once: a conditional update whose row count says who won."""
    res = session.execute(update(Proposal).where(Proposal.id == p_id, Proposal.state == ProposalState.PENDING.value)
                          .values(state=state.value, decided_by=actor.name, decided_at=utcnow(), basis=basis)
                          .execution_options(synchronize_session=False))
    return res.rowcount == 1


def _supersede(session: Session, ds: Dataset, column: str, field: Field, value, *, basis: str,
               actor: Actor) -> None:
    """A direct decision on a field settles the proposal waiting on it: accepted when it asked for the value
    decided, rejected otherwise (audited either way)."""
    session.flush()
    p = session.scalar(select(Proposal).where(Proposal.dataset_id == ds.id, Proposal.column == column,
                                              Proposal.field == field.value,
                                              Proposal.state == ProposalState.PENDING.value))
    if p is None:
        return
    state = ProposalState.ACCEPTED if json.loads(p.value) == value else ProposalState.REJECTED
    if _close(session, p.id, state, actor=actor, basis=basis):
        session.expire(p)
        record(session, actor=actor, action=Action.PROPOSAL_ACCEPT if state is ProposalState.ACCEPTED
               else Action.PROPOSAL_REJECT, target_type="dataset", target_id=ds.name, zone=ds.zone_code,
               details={"proposal": p.id, "column": column or None, "field": field.value, "basis": basis,
                        "superseded": True})


def find_proposal(session: Session, ds: Dataset, proposal_id: int) -> Proposal:
    p = session.get(Proposal, proposal_id)
    if p is None or p.dataset_id != ds.id:
        raise NotFound(f"找不到提议 {proposal_id}", f"no proposal {proposal_id} on {ds.name}",
                       code="proposal_not_found")
    return p


def do_decide_proposal(session: Session, ds: Dataset, proposal_id: int, *, accept: bool, basis: str,
                       actor: Actor) -> Proposal:
    """The provider's (own data) or the security admin's decision on a proposal, with its basis; the caller
    checked that the actor may decide for `ds`. Accepting puts the change in force in the same transaction."""
    p = find_proposal(session, ds, proposal_id)
    basis = (basis or "").strip()
    if not basis:
        raise Invalid("须写明决定的依据", "a decision needs its basis", code="basis_required")
    if p.proposed_by_user_id is not None and p.proposed_by_user_id == actor.user_id:
        raise Forbidden("不能决定自己的提议", "you cannot decide your own proposal", code="own_proposal")
    state = ProposalState.ACCEPTED if accept else ProposalState.REJECTED
    if not _close(session, p.id, state, actor=actor, basis=basis):
        session.refresh(p)
        raise Conflict("该提议已有决定", f"the proposal is already {p.state}", code="proposal_decided",
                       details={"state": p.state})
    session.refresh(p)
    field, value = Field(p.field), json.loads(p.value)
    record(session, actor=actor, action=Action.PROPOSAL_ACCEPT if accept else Action.PROPOSAL_REJECT,
           target_type="dataset", target_id=ds.name, zone=ds.zone_code,
           details={"proposal": p.id, "column": p.column or None, "field": p.field, "basis": basis,
                    "proposed_by": p.proposed_by})
    if not accept:
        return p
    if field is Field.LEVEL:
        _set_level(session, ds, value, basis, actor=actor)
        return p
    col = _column(session, ds, p.column)
    if field is Field.MASK_POLICY:
        value = _parse_mask_policy(ds, col, value)  # checked again against the level in force now
    _apply(session, ds, col, field, value, actor=actor, basis=basis, settle=False)
    ds.updated_at = utcnow()
    record(session, actor=actor, action=Action.DATASET_COLUMN, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"column": p.column, field.value: _audit_value(field, value),
                                       "proposal": p.id})
    return p


def do_destroy(session: Session, store: ds_storage.DatasetStorage, ds: Dataset, *, reason: str,
               actor: Actor) -> None:
    """Destroy a dataset's data (R-32 销毁): its data key goes, so every copy under it is unreadable."""
    if not reason.strip():
        raise Invalid("须说明销毁理由", "a reason is required", code="reason_required")
    key = session.get(DatasetKey, ds.id)
    if key is None or key.wrapped is None:
        raise Conflict("该数据集的数据已销毁", "the dataset's data is already destroyed", code="already_destroyed")
    key.wrapped, key.destroyed_at = None, utcnow()
    session.execute(delete(DatasetVersion).where(DatasetVersion.dataset_id == ds.id))
    ds.row_count, ds.updated_at = 0, utcnow()
    record(session, actor=actor, action=Action.DATASET_DESTROY, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"reason": reason.strip()})
    session.flush()
    store.destroy(ds.id)


MAX_CONTRIBUTIONS = 1000


def do_set_contributions(session: Session, ds: Dataset, rows: int, *, actor: Actor, basis: str = "") -> None:
    """Decide the contribution bound L: the most rows of one person (privacy unit) a DP answer uses."""
    if not ds.privacy_unit:
        raise Invalid("请先声明隐私单元列", "declare the privacy-unit column first", code="privacy_unit_required")
    if not isinstance(rows, int) or not 1 <= rows <= MAX_CONTRIBUTIONS:
        raise Invalid(f"每人最多行数须在 1 到 {MAX_CONTRIBUTIONS} 之间",
                      f"rows per person must be 1 to {MAX_CONTRIBUTIONS}", code="invalid_contributions")
    ds.max_contributions = rows
    ds.updated_at = utcnow()
    _decide(session, ds, "contributions", rows, actor=actor, basis=basis)
    record(session, actor=actor, action=Action.DATASET_CONTRIBUTIONS, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"max_contributions": rows})


def data_key(session: Session, keystore: KeyStore, suite: CryptoSuite, ds: Dataset) -> bytes:
    key = session.get(DatasetKey, ds.id)
    if key is None or key.wrapped is None:
        raise Conflict("该数据集的数据已销毁", "the dataset's data has been destroyed", code="already_destroyed")
    return ds_storage.unwrap(keystore, suite, ds.id, key.wrapped)




def import_dataset(db: Store, keystore: KeyStore, suite: CryptoSuite, store: ds_storage.DatasetStorage,
                   path: Path | None, *, name: str, zone_code: str, provider: str, actor: Actor,
                   title: str | None = None, level: int | None = None, basis: str = "",
                   privacy_unit: str | None = None, postgres: tuple[str, str] | None = None,
                   decides: bool | None = None) -> Dataset:
    """Read the file (or a department's PostgreSQL table: `postgres=(url, table)`), then import it in one
    transaction; a failure leaves no row and no file behind. `decides`: see `do_import`."""
    from pdzone.catalog.importing import read_postgres, read_source
    from pdzone.identity.actions import find_org

    check_name(name)
    if postgres is not None:
        src = read_postgres(*postgres)
        source_label = f"postgresql:{postgres[1]}"
    elif path is not None:
        src = read_source(path)
        source_label = path.name
    else:
        raise Invalid("须指定文件或 PostgreSQL 表", "give a file or a PostgreSQL table", code="file_not_found")
    made: list[int] = []
    try:
        with db.transaction() as s:
            ds = do_import(s, keystore, suite, store, src, name=name, zone_code=zone_code,
                           provider=find_org(s, provider), title=title, source_name=source_label, actor=actor,
                           level=level, basis=basis, privacy_unit=privacy_unit, written=made, decides=decides)
        return ds
    except BaseException:
        for dataset_id in made:
            store.destroy(dataset_id)
        raise


def load_table(session: Session, keystore: KeyStore, suite: CryptoSuite, store: ds_storage.DatasetStorage,
               ds: Dataset):
    """The dataset's current version, decrypted into memory (never to disk). R-28 data is refused."""
    check_operable(ds)
    return store.read(ds.id, ds.version, data_key(session, keystore, suite, ds))


def do_scan(session: Session, keystore: KeyStore, suite: CryptoSuite, store: ds_storage.DatasetStorage,
            ds: Dataset, *, actor: Actor, sample: int | None = 100_000) -> list:
    """Detect personal information per column and suggest a level: stored as suggestions, never as rules."""
    from pdzone.dataplane.engine import with_tables
    from pdzone.protect.detect import scan, suggest_level

    cols = session.scalars(select(DatasetColumn).where(DatasetColumn.dataset_id == ds.id)
                           .order_by(DatasetColumn.position)).all()
    con = with_tables({"t": load_table(session, keystore, suite, store, ds)})
    findings = scan(con, "t", [(c.name, c.description or None) for c in cols], sample=sample)
    con.close()
    by_name = {f.column: f for f in findings}
    for c in cols:
        f = by_name.get(c.name)
        c.pii_type = f.pii_type.value if f and f.pii_type else None
        c.pii_match_rate = f.match_rate if f and f.pii_type else None
        c.pii_confidence = f.confidence if f and f.pii_type else None
    suggestion = suggest_level(findings)
    ds.suggested_level = suggestion.level
    ds.suggestion_reasons = json.dumps([{"zh": r.message("zh"), "en": r.message("en")} for r in suggestion.reasons],
                                       ensure_ascii=False)
    ds.updated_at = utcnow()
    record(session, actor=actor, action=Action.DATASET_SCAN, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"suggested_level": suggestion.level, "sampled": any(f.sampled for f in findings),
                                       "types": {c.name: c.pii_type for c in cols if c.pii_type}})
    return findings


METADATA_FIELDS = ("title_zh", "title_en", "description", "source_system", "sector", "update_frequency",
                   "time_coverage", "space_coverage")
FREQUENCIES = ("realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular", "once")


def do_edit_metadata(session: Session, ds: Dataset, *, actor: Actor, columns: dict[str, dict] | None = None,
                     **fields: str | None) -> Dataset:
    """Describe a dataset (operator staff): titles, description, sector, frequency, coverage, column notes."""
    unknown = set(fields) - set(METADATA_FIELDS)
    if unknown:
        raise Invalid(f"未知的元数据字段：{', '.join(sorted(unknown))}", f"unknown metadata fields: {sorted(unknown)}",
                      code="invalid_metadata")
    changes = {k: v for k, v in fields.items() if v is not None}
    if changes.get("sector") and changes["sector"] not in SECTORS:
        raise Invalid("行业须为第二十六条所列领域之一", "the sector must be one of the R-26 sectors",
                      code="invalid_metadata", details={"allowed": list(SECTORS)})
    if changes.get("update_frequency") and changes["update_frequency"] not in FREQUENCIES:
        raise Invalid("更新频率无效", "invalid update frequency", code="invalid_metadata",
                      details={"allowed": list(FREQUENCIES)})
    if "title_zh" in changes and not (changes["title_zh"] or "").strip():
        raise Invalid("中文标题不能为空", "the Chinese title cannot be empty", code="invalid_metadata")
    for k, v in changes.items():
        setattr(ds, k, v.strip() if isinstance(v, str) else v)
    for name, notes in (columns or {}).items():
        col = _column(session, ds, name)
        for k in ("description", "unit"):
            if notes.get(k) is not None:
                setattr(col, k, str(notes[k]).strip()[:2000])
        changes[f"column:{name}"] = {k: notes.get(k) for k in ("description", "unit") if notes.get(k) is not None}
    if not changes:
        raise Invalid("未给出任何更改", "nothing to change", code="nothing_to_change")
    ds.updated_at = utcnow()
    record(session, actor=actor, action=Action.DATASET_METADATA, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details=changes)
    return ds


def do_link(session: Session, ds: Dataset, derived_from: Dataset, *, note: str = "", actor: Actor) -> Lineage:
    """Lineage (血缘): `ds` was derived from `derived_from` (a product, a cleaned version, a join)."""
    if ds.id == derived_from.id:
        raise Invalid("数据集不能源自自身", "a dataset cannot derive from itself", code="invalid_lineage")
    seen, frontier = set(), [derived_from.id]
    while frontier:  # refuse cycles
        cur = frontier.pop()
        if cur == ds.id:
            raise Invalid("血缘关系不能成环", "lineage cannot form a cycle", code="invalid_lineage")
        if cur not in seen:
            seen.add(cur)
            frontier += session.scalars(select(Lineage.derived_from_id).where(Lineage.dataset_id == cur)).all()
    link = Lineage(dataset_id=ds.id, derived_from_id=derived_from.id, note=note.strip(), created_at=utcnow())
    session.add(link)
    record(session, actor=actor, action=Action.DATASET_LINEAGE, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"derived_from": derived_from.name, "note": note.strip()})
    return link
