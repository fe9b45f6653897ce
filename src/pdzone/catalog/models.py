"""Catalog tables: datasets, columns, versions, wrapped data keys, decisions, lineage (R-21.4)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pdzone.db import Base, BigId, UTCDateTime


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # the identifier used in SQL and the CLI
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"), index=True)
    provider_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    source_system: Mapped[str] = mapped_column(String(200), default="")
    sector: Mapped[str | None] = mapped_column(String(30))
    update_frequency: Mapped[str | None] = mapped_column(String(30))
    time_coverage: Mapped[str] = mapped_column(String(100), default="")
    space_coverage: Mapped[str] = mapped_column(String(100), default="")
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # The confirmed level 1-4, set only by a decision. None: nobody who may decide has confirmed one, and every
    # reader treats the dataset as level 4; a level given at import by operator staff waits as a Proposal.
    level: Mapped[int | None] = mapped_column(Integer)
    level_basis: Mapped[str | None] = mapped_column(Text)
    level_set_by: Mapped[str | None] = mapped_column(String(200))
    suggested_level: Mapped[int | None] = mapped_column(Integer)
    suggestion_reasons: Mapped[str] = mapped_column(Text, default="[]")  # JSON
    r28_reason: Mapped[str | None] = mapped_column(String(30))  # never enters operation when set
    r28_note: Mapped[str | None] = mapped_column(Text)
    privacy_unit: Mapped[str | None] = mapped_column(String(200))
    max_contributions: Mapped[int | None] = mapped_column(Integer)  # DP: rows kept per privacy unit (L)
    source_format: Mapped[str] = mapped_column(String(20), default="")
    source_encoding: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DatasetColumn(Base):
    __tablename__ = "dataset_columns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str] = mapped_column(String(50), default="")
    pii_type: Mapped[str | None] = mapped_column(String(30))        # detected (a suggestion)
    pii_match_rate: Mapped[float | None] = mapped_column(Float)
    pii_confidence: Mapped[float | None] = mapped_column(Float)
    role: Mapped[str | None] = mapped_column(String(20))  # dimension / measure / identifier / join_key
    bounds_lo: Mapped[float | None] = mapped_column(Float)
    bounds_hi: Mapped[float | None] = mapped_column(Float)
    public_values: Mapped[str | None] = mapped_column(Text)         # JSON list
    mask_policy: Mapped[str | None] = mapped_column(Text)           # JSON ColumnPolicy

    __table_args__ = (UniqueConstraint("dataset_id", "name", name="uq_dataset_column"),)


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    row_count: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("dataset_id", "version", name="uq_dataset_version"),)


class DatasetKey(Base):
    """The dataset's data key, wrapped under the key-encryption key. Deleting it shreds the data."""

    __tablename__ = "dataset_keys"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), primary_key=True, autoincrement=False)
    suite: Mapped[str] = mapped_column(String(10))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Decision(Base):
    """A human decision on a dataset (level, column role, bounds, public values, R-28 flag).

    Suggestions are stored with status `suggested`; only a confirmation by the provider (own data)
    or the security admin makes them rules.
    """

    __tablename__ = "catalog_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    column: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(Text)        # JSON
    basis: Mapped[str] = mapped_column(Text, default="")
    data_derived: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Proposal(Base):
    """A change that relaxes protection, proposed by operator staff and waiting for the decision of the provider
    (own data) or the security admin: pending → accepted | rejected. It takes effect only when accepted.

    `column` is '' for a dataset-wide field (the level), so that the partial unique index below holds at most
    one pending proposal per (dataset, column, field) on every database (NULLs would never collide).
    """

    __tablename__ = "catalog_proposals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    column: Mapped[str] = mapped_column(String(200), default="")
    field: Mapped[str] = mapped_column(String(20))                  # level, role, bounds, public_values, mask_policy
    value: Mapped[str] = mapped_column(Text)                        # JSON: the proposed value
    before: Mapped[str] = mapped_column(Text, default="null")       # JSON: the value in force when proposed
    state: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")           # the proposer's reason
    proposed_by: Mapped[str] = mapped_column(String(200))
    proposed_by_user_id: Mapped[int | None] = mapped_column(BigId)
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    basis: Mapped[str | None] = mapped_column(Text)                 # the decision's basis

    __table_args__ = (
        Index("uq_catalog_proposal_pending", "dataset_id", "column", "field", unique=True,
              sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
    )


class Lineage(Base):
    __tablename__ = "catalog_lineage"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    derived_from_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
