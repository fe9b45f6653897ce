"""Zones (专区): domain (领域类), regional (区域类) or comprehensive (综合基础类), R-2."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from pdzone.db import Base, BigId, UTCDateTime


class Zone(Base):
    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    supervisor_org_id: Mapped[int | None] = mapped_column(BigInteger)  # organizations.id (no FK: orgs point to zones)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
