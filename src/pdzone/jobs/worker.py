"""Running jobs: the handler registry, what a handler sees, and the worker loop.

Areas above this floor register a handler per job kind (`register("catalog.import", run_import)`); a worker
claims only the kinds it has handlers for. The server runs workers in-process (`PDZONE_JOB_WORKERS`), and
`pdzone worker` runs one on its own; any number may run against one database.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from pdzone.config import Settings
from pdzone.db import Store
from pdzone.errors import PdzoneError
from pdzone.jobs import actions, spool
from pdzone.jobs.actions import Claim
from pdzone.jobs.models import Job, JobStatus

log = logging.getLogger("pdzone.jobs")

INTERNAL = ("后台任务执行时发生内部错误，已记录；请稍后重试或联系系统管理员",
            "the job failed with an internal error; it has been logged: try again later or contact the administrator")

OUT_OF_MEMORY = ("后台任务超出内存限制，已停止；请拆分文件或联系系统管理员调整限制",
                 "the job ran out of memory and was stopped: split the file or ask the administrator to raise "
                 "the limit")
STORAGE_FULL = ("存储空间已满，操作未完成；请联系系统管理员", "the storage is full; nothing was changed: contact the "
                "administrator")


def sweep_spools(store: Store, data_dir: Path, *, older_than_s: float) -> list[str]:
    """At start (server, `pdzone worker`): remove spooled files that no waiting or running job owns (an upload
    cut off by a crash), once they are older than `older_than_s`; the names removed."""
    with store.sessions() as s:
        rows = s.scalars(select(Job.payload).where(Job.status.in_([JobStatus.QUEUED.value,
                                                                   JobStatus.RUNNING.value]))).all()
    owned = {name for payload in rows for name in json.loads(payload).get("spool", ())}
    gone = spool.sweep(data_dir, owned, older_than_s=older_than_s)
    if gone:
        log.warning("removed %d stale spooled file(s) under %s", len(gone), data_dir / spool.SPOOL_DIR)
    return gone


class RunningJob:
    """What a handler gets: the job's payload, who asked for it, its files, and a way to report progress.

    `progress()` never waits for the database: the latest value is written by a heartbeat thread, which
    also proves that the worker is alive while a long step runs (on SQLite a write transaction of the
    handler delays those writes until it commits; nothing is lost but the intermediate values).
    """

    def __init__(self, store: Store, claim: Claim, data_dir: Path, heartbeat_s: float) -> None:
        self.store, self.claim, self.data_dir, self.heartbeat_s = store, claim, data_dir, heartbeat_s
        self._latest: tuple[float, str] | None = None
        self._lock = threading.Lock()
        self._poke = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"pdzone-job-{claim.id}-heartbeat", daemon=True)

    @property
    def id(self) -> int:
        return self.claim.id

    @property
    def payload(self) -> dict[str, Any]:
        return self.claim.payload

    @property
    def actor(self):
        return self.claim.actor

    @property
    def zone(self) -> str | None:
        return self.claim.zone

    def file(self, name: str) -> Path:
        """The path of one of the job's spooled files."""
        if name not in self.claim.files:
            raise ValueError(f"job {self.id} owns no file {name!r}")
        return spool.path_of(self.data_dir, name)

    def progress(self, fraction: float, step: str) -> None:
        """Report how far the job is (0..1) and its current step (a short code the console translates)."""
        with self._lock:
            self._latest = (fraction, step)
        self._poke.set()

    def _beat(self) -> None:
        while not self._stop.is_set():
            self._poke.wait(self.heartbeat_s)
            self._poke.clear()
            if self._stop.is_set():
                return
            with self._lock:
                latest, self._latest = self._latest, None
            try:
                fraction, step = latest if latest else (None, None)
                actions.touch(self.store, self.claim, progress=fraction, message=step)
            except SQLAlchemyError:  # e.g. SQLite busy while the handler's own transaction writes: next beat
                log.debug("job %s heartbeat deferred", self.id, exc_info=True)
                with self._lock:
                    self._latest = self._latest or latest

    def __enter__(self) -> RunningJob:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._poke.set()
        self._thread.join()


Handler = Callable[[RunningJob, Any], dict | None]
HANDLERS: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    """Register the handler of a job kind; it gets the running job and the worker's environment (the runtime)
    and returns the job's result (JSON), or raises a PdzoneError whose messages the job page shows."""
    HANDLERS[kind] = handler


def worker_name(suffix: str = "") -> str:
    return f"{socket.gethostname()}:{os.getpid()}{suffix}"


class Worker:
    """Claims and runs jobs one at a time. `env` is passed to handlers untouched (the web runtime)."""

    def __init__(self, store: Store, env: Any, *, data_dir: Path, name: str | None = None,
                 heartbeat_s: float = 5.0, stale_after_s: float = 300.0, max_attempts: int = 3,
                 handlers: dict[str, Handler] | None = None) -> None:
        self.store, self.env, self.data_dir = store, env, data_dir
        self.name = name or worker_name()
        self.heartbeat_s, self.stale_after_s, self.max_attempts = heartbeat_s, stale_after_s, max_attempts
        self.handlers = HANDLERS if handlers is None else handlers
        self._reaped_at = float("-inf")

    @classmethod
    def from_settings(cls, store: Store, env: Any, settings: Settings, **kw: Any) -> Worker:
        return cls(store, env, data_dir=settings.data_dir, heartbeat_s=settings.job_heartbeat_s,
                   stale_after_s=settings.job_stale_after_s, max_attempts=settings.job_max_attempts, **kw)

    def reap(self, *, force: bool = False) -> list[int]:
        """Re-queue (or give up) runs whose worker stopped; at most every few seconds unless forced."""
        now = time.monotonic()
        if not force and now - self._reaped_at < min(self.stale_after_s / 4, 30.0):
            return []
        self._reaped_at = now
        requeued, abandoned = actions.requeue_stale(self.store, stale_after_s=self.stale_after_s,
                                                    max_attempts=self.max_attempts)
        for claim in abandoned:
            log.warning("job %s given up after %s attempts", claim.id, claim.attempt)
            spool.remove(self.data_dir, claim.files)
        for job_id in requeued:
            log.warning("job %s re-queued: its worker stopped sending heartbeats", job_id)
        return requeued

    def run_once(self) -> bool:
        """Run one job if one is waiting; False when the queue had nothing for this worker."""
        self.reap()
        claim = actions.claim(self.store, worker=self.name, kinds=self.handlers)
        if claim is None:
            return False
        self.run(claim)
        return True

    def run(self, claim: Claim) -> None:
        handler = self.handlers[claim.kind]
        error: PdzoneError | None = None
        result: dict | None = None
        with RunningJob(self.store, claim, self.data_dir, self.heartbeat_s) as job:
            try:
                result = handler(job, self.env)
            except PdzoneError as e:
                error = e
            except MemoryError:
                log.warning("job %s (%s) ran out of memory", claim.id, claim.kind)
                error = PdzoneError(*OUT_OF_MEMORY, code="job_out_of_memory", status=413)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    log.exception("job %s (%s) failed", claim.id, claim.kind)
                    error = PdzoneError(*INTERNAL, code="internal_error", status=500)
                else:
                    log.error("job %s (%s): no space left on the device", claim.id, claim.kind)
                    error = PdzoneError(*STORAGE_FULL, code="storage_full", status=507)
            except Exception:
                log.exception("job %s (%s) failed", claim.id, claim.kind)
                error = PdzoneError(*INTERNAL, code="internal_error", status=500)
        try:
            owned = actions.fail(self.store, claim, error) if error else actions.finish(self.store, claim, result)
        except SQLAlchemyError:
            log.exception("job %s: could not record its end; it will be re-queued", claim.id)
            return
        if owned:
            spool.remove(self.data_dir, claim.files)
        else:  # re-queued meanwhile (presumed dead): the newer run owns the job and its files
            log.warning("job %s attempt %s ended after the job was taken over", claim.id, claim.attempt)

    def drain(self) -> int:
        """Run jobs until none is waiting; the number run."""
        n = 0
        while self.run_once():
            n += 1
        return n

    def run_forever(self, stop: threading.Event, poll_s: float = 1.0, after_job: Callable[[], None] | None = None):
        """Run jobs until `stop` is set, polling the queue every `poll_s` seconds when it is empty."""
        while not stop.is_set():
            try:
                ran = self.run_once()
            except SQLAlchemyError:
                log.exception("job queue unavailable")
                ran = False
            if ran and after_job is not None:
                try:
                    after_job()
                except Exception:
                    log.exception("after a job")
            if not ran:
                stop.wait(poll_s)
