"""Catalog work that runs as a background job: importing a department's uploaded file (R-21.4).

The console checks the request, spools the upload privately and queues a `catalog.import` job
(`enqueue_import`); a worker runs `run_import`: read the file, seal it under a new data key, catalogue it in
one transaction, then scan it for personal information. A failure leaves nothing behind (no catalog row, no
sealed file), and the job keeps the import's own error, which names the bad line or column.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from pdzone import jobs
from pdzone.audit.events import Actor
from pdzone.catalog import actions as cat
from pdzone.catalog.importing import DEFAULT_LIMITS, READERS, Limits, check_structure, read_source
from pdzone.catalog.models import Dataset
from pdzone.db import Store
from pdzone.errors import Conflict, Invalid, PdzoneError
from pdzone.governance.actions import find_zone
from pdzone.identity.actions import OrgKind, find_org
from pdzone.jobs import spool

log = logging.getLogger("pdzone.catalog")

IMPORT = "catalog.import"
#: The steps an import reports, with how far along each starts (the console names them).
STEPS = {"reading": 0.05, "encrypting": 0.35, "cataloguing": 0.7, "scanning": 0.8}


def check_import(session: Session, *, name: str, zone_code: str, provider: str, level: int | None,
                 basis: str) -> None:
    """What can be checked before the file is read, so that the form answers at once (the import checks again)."""
    cat.check_name(name)
    find_zone(session, zone_code)
    if find_org(session, provider).kind != OrgKind.PROVIDER:
        raise Invalid("数据须由数据提供部门提供", "the provider must be a data provider department",
                      code="invalid_provider")
    if session.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
        raise Conflict(f"数据集名已被使用：{name}", f"dataset name {name} is taken", code="dataset_exists")
    if level is not None:
        cat._check_level(level, basis)  # the import's own rule for a level and its basis


def check_format(filename: str) -> str:
    """The file's suffix, if pdzone reads that kind of file; else the import's `unsupported_format` error."""
    suffix = Path(filename).suffix.lower()
    if suffix not in READERS:
        read_source(Path(filename))  # refuses the suffix (with its message) before it looks for any file
    return suffix


def enqueue_import(store: Store, data_dir: Path, upload: BinaryIO, *, filename: str, name: str, zone_code: str,
                   provider: str, actor: Actor, title: str | None = None, level: int | None = None,
                   basis: str = "", privacy_unit: str | None = None, limits: Limits = DEFAULT_LIMITS) -> int:
    """Spool the upload (0600, under the data dir) and queue its import; the job's id.

    `filename` is the department's file name, kept as the version's source. Nothing is queued, and the
    spooled file is removed, when queueing fails.
    """
    suffix = check_format(filename)
    stored = spool.spool(data_dir, upload, suffix)
    return enqueue_spooled(store, data_dir, stored, filename=filename, name=name, zone_code=zone_code,
                           provider=provider, actor=actor, title=title, level=level, basis=basis,
                           privacy_unit=privacy_unit, limits=limits)


def enqueue_spooled(store: Store, data_dir: Path, stored: str, *, filename: str, name: str, zone_code: str,
                    provider: str, actor: Actor, title: str | None = None, level: int | None = None,
                    basis: str = "", privacy_unit: str | None = None, limits: Limits = DEFAULT_LIMITS) -> int:
    """Queue the import of an upload already spooled as `stored` (the upload routes stream it there), which
    the job then owns; the job's id. What can be refused from the file's structure alone (a workbook that
    would expand too far, a header with too many columns) is refused here, at once; the spooled file is
    removed when anything fails."""
    try:
        check_format(filename)
        check_structure(spool.path_of(data_dir, stored), limits, suffix=Path(filename).suffix)
        with store.transaction() as s:
            job = jobs.enqueue(s, kind=IMPORT, actor=actor, zone=zone_code, files=[stored], payload={
                "file": stored, "source": filename[:300], "name": name, "provider": provider, "title": title,
                "level": level, "basis": basis, "privacy_unit": privacy_unit},
                details={"dataset": name, "source": filename[:300]})
            return job.id
    except BaseException:
        spool.remove(data_dir, [stored])
        raise


class _Reporting:
    """The dataset storage, reporting the encrypt and catalogue steps of an import around its one write."""

    def __init__(self, inner: Any, job: jobs.RunningJob) -> None:
        self._inner, self._job = inner, job

    def write(self, *args: Any, **kw: Any):
        self._job.progress(STEPS["encrypting"], "encrypting")
        out = self._inner.write(*args, **kw)
        self._job.progress(STEPS["cataloguing"], "cataloguing")
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def run_import(job: jobs.RunningJob, rt: Any) -> dict:
    """The `catalog.import` handler. `rt` is the runtime (store, key store, suite, dataset storage)."""
    p = job.payload
    job.progress(STEPS["reading"], "reading")
    src = read_source(job.file(p["file"]), Limits.from_settings(rt.settings))
    made: list[int] = []
    try:
        with rt.store.transaction() as s:
            ds = cat.do_import(s, rt.keystore, rt.suite, _Reporting(rt.datasets, job), src, name=p["name"],
                               zone_code=job.zone, provider=find_org(s, p["provider"]), title=p.get("title"),
                               source_name=p["source"], actor=job.actor, level=p.get("level"),
                               basis=p.get("basis") or "", privacy_unit=p.get("privacy_unit"), written=made)
            name = ds.name
    except BaseException:
        for dataset_id in made:  # the transaction did not commit: its sealed file goes too
            rt.datasets.destroy(dataset_id)
        raise
    job.progress(STEPS["scanning"], "scanning")
    try:
        with rt.store.transaction() as s:
            cat.do_scan(s, rt.keystore, rt.suite, rt.datasets, cat.find_dataset(s, name), actor=job.actor)
        scanned = True
    except (PdzoneError, OperationalError):  # the data is in; the dataset page offers the scan again
        log.warning("scan after import of %s failed", name, exc_info=True)
        scanned = False
    return {"dataset": name, "scanned": scanned}


jobs.register(IMPORT, run_import)
