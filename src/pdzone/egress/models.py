"""Scenarios, grants and the privacy-budget ledger: what the gate checks before anything leaves.

Budgets are exact fixed-point integers (ε in units of 10⁻⁹, δ in units of 10⁻¹⁵) so sums never
drift, and a CHECK constraint on every account keeps spending from passing its cap: a charge that
would overdraw fails in the database even if two workers race past the application's check.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pdzone.db import Base, BigId, UTCDateTime


class Scenario(Base):
    """An application scenario (应用场景) registered in a zone; every query names one."""

    __tablename__ = "scenarios"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(20))  # public_interest / industry
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Grant(Base):
    """A partner organization's access to datasets for one scenario, with its privacy budget."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"), index=True)
    partner_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    forms: Mapped[str] = mapped_column(Text)  # JSON list: aggregate, rows
    epsilon_total: Mapped[int] = mapped_column(BigInteger)  # nano-ε
    epsilon_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    delta_total: Mapped[int] = mapped_column(BigInteger, default=0)  # femto-δ
    delta_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    default_epsilon: Mapped[int] = mapped_column(BigInteger)
    min_epsilon: Mapped[int] = mapped_column(BigInteger)
    max_epsilon: Mapped[int] = mapped_column(BigInteger)
    preapproved: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of approved query-template hashes
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("epsilon_spent >= 0 AND epsilon_spent <= epsilon_total", name="epsilon_within_budget"),
        CheckConstraint("delta_spent >= 0 AND delta_spent <= delta_total", name="delta_within_budget"),
    )


class GrantDataset(Base):
    __tablename__ = "grant_datasets"

    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), primary_key=True, autoincrement=False)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), primary_key=True, autoincrement=False)


class DatasetBudget(Base):
    """A partner's loss on one dataset across all its grants and scenarios, capped per dataset."""

    __tablename__ = "dataset_budgets"

    partner_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True,
                                                autoincrement=False)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), primary_key=True, autoincrement=False)
    cap: Mapped[int] = mapped_column(BigInteger)       # nano-ε
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    delta_cap: Mapped[int] = mapped_column(BigInteger, default=0)    # femto-δ
    delta_spent: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (CheckConstraint("spent >= 0 AND spent <= cap", name="spent_within_cap"),
                      CheckConstraint("delta_spent >= 0 AND delta_spent <= delta_cap", name="delta_within_cap"))


class DatasetCap(Base):
    """The security admin's per-dataset cap on any one partner's total loss (else the level's default)."""

    __tablename__ = "dataset_caps"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), primary_key=True, autoincrement=False)
    cap: Mapped[int] = mapped_column(BigInteger)
    delta_cap: Mapped[int | None] = mapped_column(BigInteger)  # femto-δ; None: the default
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class StoredAnswer(Base):
    """A released answer, sealed under its datasets' keys, re-served at no charge for the same question."""

    __tablename__ = "stored_answers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    query_key: Mapped[str] = mapped_column(String(64))  # hash of normalized query, ε and data versions
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    event_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("grant_id", "query_key", name="uq_stored_answer"),)
