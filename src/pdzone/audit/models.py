"""Tables of the operation log (操作日志), R-21.2 and R-31.

`audit_events` holds one row per event with its log position in `seq` (outside verification
tools rely on both names). `seq` stays NULL until the integration step gives the event its
place in the Merkle tree, after the transaction that wrote it has committed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pdzone.db import Base, BigId, UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))          # user:NAME, token:ID, os:USER@HOST, system
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_org_id: Mapped[int | None] = mapped_column(BigInteger)
    token_id: Mapped[int | None] = mapped_column(BigInteger)
    zone: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(10))         # success / denied / failed
    source_ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON text
    # HMAC over the event's canonical encoding (encoding.mac_bytes) with the key store's event MAC key;
    # NULL only for events integrated before MACs existed (migration 0005).
    mac: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    # Set when integration refused the row (no valid MAC): it never gets a seq.
    refused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_audit_events_pending", "seq", "id"),)


class AuditNode(Base):
    """Hash of the perfect subtree (level, idx); level 0 are the leaf hashes."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(64))


class AuditLogState(Base):
    """The single row (id 1) that integrators lock: tree size and its right edge."""

    __tablename__ = "audit_log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    suite: Mapped[str] = mapped_column(String(10))
    tree_size: Mapped[int] = mapped_column(BigInteger, default=0)
    compact: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # concatenated hashes
    checkpoint_size: Mapped[int] = mapped_column(BigInteger, default=0)
    checkpoint_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    checkpoint_count: Mapped[int] = mapped_column(BigInteger, default=0)  # checkpoints ever signed


class AuditKey(Base):
    """Public keys that sign checkpoints: the platform's own and supervisors' witness keys."""

    __tablename__ = "audit_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    suite: Mapped[str] = mapped_column(String(10))
    public_pem: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))  # platform / witness
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Checkpoint(Base):
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(64))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(ForeignKey("audit_keys.key_id"))
    body: Mapped[str] = mapped_column(Text)          # the exact signed text
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class Cosignature(Base):
    """A supervisor's countersignature (witnessing) of a checkpoint."""

    __tablename__ = "audit_cosignatures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("audit_checkpoints.id"), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("audit_keys.key_id"))
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Review(Base):
    """An auditor's review (审查) of an event."""

    __tablename__ = "audit_reviews"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), index=True)
    reviewer_user_id: Mapped[int | None] = mapped_column(BigInteger)
    reviewer: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(20))  # ok / concern
    comment: Mapped[str] = mapped_column(Text)
    reviewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DenialWindow(Base):
    """Repeated denials of one caller and action within one window: the first is an event, the rest a count.

    `count` includes the first; when the window has closed, integration writes one summary event
    (`audit.denials.aggregate`) with the final count and sets `summarized_at`.
    """

    __tablename__ = "audit_denial_windows"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(200))     # actor name; anonymous callers as anonymous:*
    source_ip: Mapped[str] = mapped_column(String(64))  # '' when unknown
    action: Mapped[str] = mapped_column(String(100))    # the action, request paths cut to their route prefix
    reason: Mapped[str] = mapped_column(String(100))    # details.reason ('' when none)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    window_s: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(BigInteger, default=1)
    first_event_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    summarized_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("actor", "source_ip", "action", "reason", "window_start",
                                       name="uq_audit_denial_windows_key"),
                      Index("ix_audit_denial_windows_open", "summarized_at", "window_start"))
