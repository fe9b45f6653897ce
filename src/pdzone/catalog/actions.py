"""Catalog actions: import, levels, R-28 flags, column decisions, destruction (R-21.4, R-27, R-28, R-32).

Decisions stay human: a detected type or a suggested level is stored as a suggestion; the level,
column roles, bounds and public values become rules only through these audited decisions.
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pdzone.audit.events import Action, Actor, record
from pdzone.catalog.importing import Source
from pdzone.catalog.models import Dataset, DatasetColumn, DatasetKey, DatasetVersion, Decision, Lineage
from pdzone.crypto import CryptoSuite, KeyStore
from pdzone.dataplane import storage as ds_storage
from pdzone.db import Store, utcnow
from pdzone.errors import Conflict, Forbidden, Invalid, NotFound
from pdzone.governance.actions import find_zone
from pdzone.identity.actions import OrgKind
from pdzone.identity.models import Organization

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
              privacy_unit: str | None = None, written: list[int] | None = None) -> Dataset:
    """Bring a provider's data into the zone: encrypted under a new data key, catalogued, audited.

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
        _set_level(session, ds, level, basis, actor=actor)
    return ds


def _set_level(session: Session, ds: Dataset, level: int, basis: str, *, actor: Actor) -> None:
    before = ds.level
    ds.level, ds.level_basis, ds.level_set_by, ds.updated_at = level, basis, actor.name, utcnow()
    _decide(session, ds, "level", level, actor=actor, basis=basis)
    record(session, actor=actor, action=Action.DATASET_SET_LEVEL, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"level": level, "before": before, "basis": basis,
                                       "suggested": ds.suggested_level})


def do_set_level(session: Session, ds: Dataset, *, level: int, basis: str, actor: Actor) -> Dataset:
    """Confirm a dataset's level (provider for own data, or the security admin): a recorded decision."""
    level, basis = _check_level(level, basis)
    _set_level(session, ds, level, basis, actor=actor)
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


def do_set_column(session: Session, ds: Dataset, column: str, *, actor: Actor, role: str | None = None,
                  bounds: tuple[float, float] | None = None, public_values: list[str] | None = None,
                  mask_policy: dict | None = None, basis: str = "") -> DatasetColumn:
    """Decide what a column may be used for: its role, the bounds and public values DP needs.

    Bounds and public values must come from policy or public code lists (e.g. GB/T 2260), never from
    the data itself: this decision records them as given by a person, with their basis.
    """
    col = _column(session, ds, column)
    changes: dict = {}
    if role is not None:
        try:
            col.role = ColumnRole(role).value
        except ValueError as e:
            raise Invalid(f"未知的列角色：{role}", f"unknown column role: {role}", code="invalid_column_role",
                          details={"allowed": [r.value for r in ColumnRole]}) from e
        changes["role"] = col.role
        _decide(session, ds, "role", col.role, actor=actor, column=column, basis=basis)
    if bounds is not None:
        lo, hi = bounds
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise Invalid("边界须为有限数且下界小于上界", "bounds must be finite with LO < HI", code="invalid_bounds")
        col.bounds_lo, col.bounds_hi = float(lo), float(hi)
        changes["bounds"] = [col.bounds_lo, col.bounds_hi]
        _decide(session, ds, "bounds", changes["bounds"], actor=actor, column=column, basis=basis)
    if public_values is not None:
        values = [v.strip() for v in public_values if v.strip()]
        if not values or len(values) > 10000 or len(set(values)) != len(values):
            raise Invalid("公开取值须为不重复的非空列表", "public values must be a non-empty list without duplicates",
                          code="invalid_public_values")
        col.public_values = json.dumps(values, ensure_ascii=False)
        changes["public_values"] = len(values)
        _decide(session, ds, "public_values", values, actor=actor, column=column, basis=basis)
    if mask_policy is not None:
        from pdzone.protect.masking import ColumnPolicy, check_policy

        policy = check_policy(ColumnPolicy.model_validate(mask_policy), pii_type=col.pii_type, level=ds.level or 4)
        col.mask_policy = policy.model_dump_json()
        changes["mask_policy"] = json.loads(col.mask_policy)
        _decide(session, ds, "mask_policy", changes["mask_policy"], actor=actor, column=column, basis=basis)
    if not changes:
        raise Invalid("未给出任何更改", "nothing to change", code="nothing_to_change")
    ds.updated_at = utcnow()
    record(session, actor=actor, action=Action.DATASET_COLUMN, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"column": column, **changes})
    return col


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
                   privacy_unit: str | None = None, postgres: tuple[str, str] | None = None) -> Dataset:
    """Read the file (or a department's PostgreSQL table: `postgres=(url, table)`), then import it in one
    transaction; a failure leaves no row and no file behind."""
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
                           level=level, basis=basis, privacy_unit=privacy_unit, written=made)
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
