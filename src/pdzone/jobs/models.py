"""The job queue's table: background work (imports now) that survives the request that asked for it."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pdzone.db import Base, BigId, UTCDateTime


class JobStatus(StrEnum):
    """queued → running → succeeded | failed; a running job whose worker stopped goes back to queued."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))                 # e.g. catalog.import; picks the handler
    zone_code: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(10), default=JobStatus.QUEUED.value)
    progress: Mapped[float] = mapped_column(Float, default=0.0)   # 0..1
    message: Mapped[str] = mapped_column(String(200), default="")  # the current step, a code (reading, encrypting…)
    payload: Mapped[str] = mapped_column(Text, default="{}")      # JSON: what the handler needs
    result: Mapped[str | None] = mapped_column(Text)              # JSON, once succeeded
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_zh: Mapped[str | None] = mapped_column(Text)
    error_en: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[str | None] = mapped_column(Text)       # JSON (e.g. the line of a bad file)
    created_by: Mapped[str] = mapped_column(String(200))          # the actor's name, as the log shows it
    created_by_user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(Text, default="{}")        # JSON: the whole actor, for the job's audit events
    worker: Mapped[str | None] = mapped_column(String(200))       # host:pid of the worker that runs or ran it
    attempts: Mapped[int] = mapped_column(Integer, default=0)     # claims so far; also the fencing token of a run
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)
