"""Reading the catalog (metadata only: no zone data leaves through these)."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdzone.catalog.models import Dataset, DatasetColumn, DatasetKey, DatasetVersion, Decision, Lineage, Proposal
from pdzone.identity.models import Organization


def list_datasets(session: Session, *, zone: str | None = None, level: int | None = None, sector: str | None = None,
                  provider_org_id: int | None = None, q: str | None = None) -> list[Dataset]:
    stmt = select(Dataset)
    if zone:
        stmt = stmt.where(Dataset.zone_code == zone)
    if level is not None:
        stmt = stmt.where(Dataset.level == level)
    if sector:
        stmt = stmt.where(Dataset.sector == sector)
    if provider_org_id is not None:
        stmt = stmt.where(Dataset.provider_org_id == provider_org_id)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(Dataset.name.like(like) | Dataset.title_zh.like(like) | Dataset.title_en.like(like)
                          | Dataset.description.like(like))
    return list(session.scalars(stmt.order_by(Dataset.name)))


def columns_of(session: Session, dataset_id: int) -> list[DatasetColumn]:
    return list(session.scalars(select(DatasetColumn).where(DatasetColumn.dataset_id == dataset_id)
                                .order_by(DatasetColumn.position)))


def proposed_level(session: Session, ds: Dataset) -> int | None:
    """The level a pending proposal asks for (e.g. the one given at import), if any: not in force."""
    value = session.scalar(select(Proposal.value).where(Proposal.dataset_id == ds.id, Proposal.column == "",
                                                        Proposal.field == "level", Proposal.state == "pending"))
    return json.loads(value) if value is not None else None


def summary_json(session: Session, ds: Dataset) -> dict:
    """`level` is the confirmed level (None: unconfirmed, which counts as 4 — `effective_level`)."""
    org = session.get(Organization, ds.provider_org_id)
    return {"name": ds.name, "title": ds.title_zh, "title_en": ds.title_en, "zone": ds.zone_code,
            "provider": org.name if org else None, "sector": ds.sector, "rows": ds.row_count, "version": ds.version,
            "level": ds.level, "effective_level": ds.level or 4, "proposed_level": proposed_level(session, ds),
            "suggested_level": ds.suggested_level, "r28_reason": ds.r28_reason}


def list_proposals(session: Session, *, dataset_ids: list[int] | None = None, state: str | None = "pending",
                   limit: int = 500) -> list[Proposal]:
    """Proposals, oldest first; by default the pending ones."""
    stmt = select(Proposal)
    if dataset_ids is not None:
        stmt = stmt.where(Proposal.dataset_id.in_(dataset_ids))
    if state:
        stmt = stmt.where(Proposal.state == state)
    return list(session.scalars(stmt.order_by(Proposal.id).limit(limit)))


def proposal_json(session: Session, p: Proposal, ds: Dataset | None = None) -> dict:
    ds = ds if ds is not None and ds.id == p.dataset_id else session.get(Dataset, p.dataset_id)
    return {"id": p.id, "dataset": ds.name if ds else None, "column": p.column or None, "field": p.field,
            "value": json.loads(p.value), "before": json.loads(p.before), "state": p.state, "reason": p.reason,
            "proposed_by": p.proposed_by, "proposed_at": p.proposed_at, "decided_by": p.decided_by,
            "decided_at": p.decided_at, "basis": p.basis}


def dataset_json(session: Session, ds: Dataset) -> dict:
    """Everything the catalog knows about a dataset: the metadata of R-21.4, never its values."""
    key = session.get(DatasetKey, ds.id)
    versions = session.scalars(select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
                               .order_by(DatasetVersion.version)).all()
    decisions = session.scalars(select(Decision).where(Decision.dataset_id == ds.id).order_by(Decision.id)).all()
    parents = session.scalars(select(Dataset.name).join(Lineage, Lineage.derived_from_id == Dataset.id)
                              .where(Lineage.dataset_id == ds.id)).all()
    children = session.scalars(select(Dataset.name).join(Lineage, Lineage.dataset_id == Dataset.id)
                               .where(Lineage.derived_from_id == ds.id)).all()
    return {
        **summary_json(session, ds),
        "description": ds.description, "source_system": ds.source_system, "update_frequency": ds.update_frequency,
        "time_coverage": ds.time_coverage, "space_coverage": ds.space_coverage,
        "level_basis": ds.level_basis, "level_set_by": ds.level_set_by,
        "suggestion_reasons": json.loads(ds.suggestion_reasons or "[]"), "r28_note": ds.r28_note,
        "privacy_unit": ds.privacy_unit, "source_format": ds.source_format, "source_encoding": ds.source_encoding,
        "encryption": {"suite": key.suite if key else None,
                       "destroyed": key is None or key.wrapped is None},
        "columns": [{"name": c.name, "type": c.type, "description": c.description, "unit": c.unit,
                     "pii": {"type": c.pii_type, "match_rate": c.pii_match_rate, "confidence": c.pii_confidence}
                     if c.pii_type else None,
                     "role": c.role, "bounds": [c.bounds_lo, c.bounds_hi] if c.bounds_lo is not None else None,
                     "public_values": json.loads(c.public_values) if c.public_values else None,
                     "mask_policy": json.loads(c.mask_policy) if c.mask_policy else None}
                    for c in columns_of(session, ds.id)],
        "versions": [{"version": v.version, "rows": v.row_count, "digest": v.digest, "source": v.source_name,
                      "created_at": v.created_at, "created_by": v.created_by} for v in versions],
        "decisions": [{"kind": d.kind, "column": d.column, "value": json.loads(d.value), "basis": d.basis,
                       "data_derived": d.data_derived, "by": d.decided_by, "at": d.decided_at} for d in decisions],
        "proposals": [proposal_json(session, p, ds) for p in list_proposals(session, dataset_ids=[ds.id])],
        "lineage": {"derived_from": list(parents), "products": list(children)},
        "created_at": ds.created_at, "updated_at": ds.updated_at,
    }


def dcat_json(session: Session, ds: Dataset) -> dict:
    """DCAT-style JSON-LD (W3C DCAT 3) of a dataset's metadata."""
    doc = dataset_json(session, ds)
    return {
        "@context": {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
                     "pdz": "urn:pdzone:"},
        "@type": "dcat:Dataset",
        "@id": f"urn:pdzone:dataset:{ds.name}",
        "dct:identifier": ds.name,
        "dct:title": [{"@language": "zh-CN", "@value": ds.title_zh}]
        + ([{"@language": "en", "@value": ds.title_en}] if ds.title_en else []),
        "dct:description": ds.description,
        "dct:publisher": doc["provider"],
        "dct:accrualPeriodicity": ds.update_frequency,
        "dct:temporal": ds.time_coverage,
        "dct:spatial": ds.space_coverage,
        "dcat:theme": ds.sector,
        "dct:modified": doc["updated_at"].isoformat(),
        "pdz:zone": ds.zone_code,
        "pdz:level": ds.level,
        "pdz:rows": ds.row_count,
        "pdz:r28": ds.r28_reason,
        "dcat:distribution": [],  # zone data is never distributed: usable, not visible
        "pdz:columns": [{"name": c["name"], "type": c["type"], "pii": (c["pii"] or {}).get("type"),
                         "role": c["role"]} for c in doc["columns"]],
        "pdz:derivedFrom": doc["lineage"]["derived_from"],
    }
