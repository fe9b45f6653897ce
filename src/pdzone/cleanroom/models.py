"""Clean-room queries: the history a partner sees, and level-4 queries held for approval."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from pdzone.db import Base, BigId, UTCDateTime


class CleanroomQuery(Base):
    __tablename__ = "cleanroom_queries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    scenario: Mapped[str] = mapped_column(String(64))
    sql: Mapped[str] = mapped_column(Text)
    approval_key: Mapped[str] = mapped_column(String(64), index=True)  # hash of SQL, ε and parameters
    epsilon: Mapped[int] = mapped_column(BigInteger)  # nano-ε requested
    level: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))  # pending / approved / rejected / answered / failed
    note: Mapped[str] = mapped_column(Text, default="")
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    # One pending hold per grant and approval key, whatever the interleaving (migration 0008).
    __table_args__ = (Index("uq_cleanroom_queries_pending", "grant_id", "approval_key", unique=True,
                            sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),)
