"""The job queue on both databases, and the catalog's import run as a job.

Queue: enqueue is audited in its transaction; claims are atomic (concurrent workers never run the same job);
finish and fail record the outcome; a run whose heartbeat goes stale is re-queued, then given up; a worker
that was presumed dead cannot overwrite the newer run. Import: progress steps, success, and a bad file that
fails the job naming its line and leaving nothing behind.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat
import threading
import time

import pytest
from sqlalchemy import func, select

from pdzone import jobs
from pdzone.audit.events import Action, Actor, os_actor
from pdzone.audit.models import AuditEvent
from pdzone.catalog import actions as cat
from pdzone.catalog import tasks
from pdzone.catalog.models import Dataset
from pdzone.catalog.queries import proposed_level
from pdzone.db import Store, utcnow
from pdzone.egress.gate import effective_level
from pdzone.errors import Invalid, NotFound, PdzoneError
from pdzone.jobs import spool
from tests import factories as f
from tests.catalog.test_catalog import HEADER, ROWS

ECHO = "test.echo"
ALICE = Actor(name="user:alice", user_id=7, org_id=3, source_ip="10.0.0.8", request_id="req-1")


def queue(rt, n: int = 1, *, kind: str = ECHO, zone: str | None = None, files=()) -> list[int]:
    with rt.store.transaction() as s:
        return [jobs.enqueue(s, kind=kind, actor=ALICE, zone=zone, payload={"n": i}, files=files).id
                for i in range(n)]


def state(rt, job_id: int) -> dict:
    with rt.store.sessions() as s:
        return jobs.job_json(jobs.get_job(s, job_id))


def spooled(rt) -> list[str]:
    d = rt.settings.data_dir / spool.SPOOL_DIR
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# --- the queue -----------------------------------------------------------------------------

def test_enqueue_is_audited_in_the_same_transaction(rt):
    (job_id,) = queue(rt, zone=None)
    with rt.store.sessions() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == Action.JOB_ENQUEUE)).one()
    assert (ev.actor, ev.actor_user_id, ev.target_type, ev.target_id) == ("user:alice", 7, "job", str(job_id))
    assert json.loads(ev.details) == {"kind": ECHO} and ev.request_id == "req-1"
    doc = state(rt, job_id)
    assert doc["status"] == "queued" and doc["created_by"] == "user:alice" and doc["created_by_user_id"] == 7
    assert doc["payload"] == {"n": 0} and doc["attempts"] == 0 and not doc["done"]

    with pytest.raises(RuntimeError), rt.store.transaction() as s:  # a rolled-back request queues nothing
        jobs.enqueue(s, kind=ECHO, actor=ALICE)
        raise RuntimeError("the request failed")
    with rt.store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(jobs.Job)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == Action.JOB_ENQUEUE)) == 1
        with pytest.raises(NotFound, match="no job 99"):
            jobs.get_job(s, 99)


def test_claims_take_the_oldest_job_of_known_kinds_and_finish_or_fail_it(rt):
    first, second = queue(rt, 2)
    (other,) = queue(rt, kind="test.other")
    a = jobs.claim(rt.store, worker="w1", kinds=[ECHO])
    assert (a.id, a.attempt, a.payload, a.actor) == (first, 1, {"n": 0, "spool": []}, ALICE)
    b = jobs.claim(rt.store, worker="w2", kinds=[ECHO])
    assert b.id == second
    assert jobs.claim(rt.store, worker="w1", kinds=[ECHO]) is None  # test.other is not this worker's kind
    assert state(rt, first)["status"] == "running" and state(rt, first)["worker"] == "w1"
    assert state(rt, other)["status"] == "queued"

    assert jobs.touch(rt.store, a, progress=0.4, message="halfway")
    assert (state(rt, first)["progress"], state(rt, first)["message"]) == (0.4, "halfway")
    assert jobs.finish(rt.store, a, {"rows": 3})
    done = state(rt, first)
    assert (done["status"], done["progress"], done["result"], done["done"]) == ("succeeded", 1.0, {"rows": 3}, True)
    assert done["finished_at"] is not None and done["error"] is None
    assert not jobs.finish(rt.store, a, {}) and not jobs.touch(rt.store, a)  # a finished run is over

    err = Invalid("CSV 文件格式错误（第 3 行）", "malformed CSV (line 3)", code="bad_import_file", details={"line": 3})
    assert jobs.fail(rt.store, b, err)
    failed = state(rt, second)
    assert failed["status"] == "failed" and failed["error"] == {
        "code": "bad_import_file", "zh": "CSV 文件格式错误（第 3 行）", "en": "malformed CSV (line 3)",
        "details": {"line": 3}}


def test_concurrent_workers_never_claim_the_same_job(rt):
    ids = queue(rt, 40)
    got: list[list[int]] = [[] for _ in range(4)]
    errors: list[Exception] = []
    start = threading.Barrier(4)

    def work(i: int) -> None:
        store = Store(rt.store.url)  # its own engine and connections, as another process would have
        try:
            start.wait()
            while (c := jobs.claim(store, worker=f"w{i}", kinds=[ECHO])) is not None:
                got[i].append(c.id)
                jobs.finish(store, c, {"by": i})
        except Exception as e:  # reported below
            errors.append(e)
        finally:
            store.dispose()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    claimed = [j for g in got for j in g]
    assert sorted(claimed) == ids  # each job exactly once
    for i, g in enumerate(got):
        assert all(state(rt, j)["result"] == {"by": i} and state(rt, j)["attempts"] == 1 for j in g)


def test_a_stale_run_is_requeued_then_given_up_and_the_old_worker_is_fenced_out(rt):
    data_dir = rt.settings.data_dir
    name = spool.spool(data_dir, io.BytesIO(b"a,b\n1,2\n"), ".csv")
    (job_id,) = queue(rt, files=[name])
    first = jobs.claim(rt.store, worker="w1", kinds=[ECHO])
    later = utcnow() + dt.timedelta(seconds=600)
    assert jobs.requeue_stale(rt.store, stale_after_s=900, max_attempts=2, now=later) == ([], [])  # still fresh
    assert jobs.touch(rt.store, first, progress=0.5, message="reading")
    requeued, abandoned = jobs.requeue_stale(rt.store, stale_after_s=60, max_attempts=2, now=later)
    assert (requeued, abandoned) == ([job_id], [])
    assert state(rt, job_id)["status"] == "queued" and state(rt, job_id)["message"] == "requeued"

    second = jobs.claim(rt.store, worker="w2", kinds=[ECHO])
    assert second.attempt == 2 and second.files == (name,)
    assert not jobs.finish(rt.store, first, {"stale": True})  # the presumed-dead run cannot finish it
    assert not jobs.touch(rt.store, first, progress=0.9)
    assert state(rt, job_id)["status"] == "running" and state(rt, job_id)["worker"] == "w2"

    # the second run stops too: after max_attempts the job fails, and the worker that notices removes its file
    worker = jobs.Worker(rt.store, None, data_dir=data_dir, stale_after_s=0.05, max_attempts=2, handlers={})
    time.sleep(0.1)
    worker.reap(force=True)
    gone = state(rt, job_id)
    assert gone["status"] == "failed" and gone["error"]["code"] == "job_abandoned" and gone["attempts"] == 2
    assert spooled(rt) == []


def test_the_worker_runs_handlers_reports_progress_and_removes_the_jobs_files(rt):
    data_dir = rt.settings.data_dir
    name = spool.spool(data_dir, io.BytesIO(b"secret rows"), ".csv")
    assert stat.S_IMODE(os.stat(spool.path_of(data_dir, name)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(data_dir / spool.SPOOL_DIR).st_mode) == 0o700
    ok, bad, boom = queue(rt, files=[name]) + queue(rt) + queue(rt)
    halfway, release = threading.Event(), threading.Event()
    seen = {}

    def echo(job, env):
        if job.id == ok:
            seen["file"] = job.file(name).read_bytes()
            seen["env"] = env
            job.progress(0.5, "halfway")
            halfway.set()
            assert release.wait(10)
            return {"echo": job.payload["n"]}
        if job.id == bad:
            raise Invalid("第 3 行有误", "line 3 is wrong", code="bad_import_file", details={"line": 3})
        raise RuntimeError("a bug")

    worker = jobs.Worker(rt.store, "ENV", data_dir=data_dir, heartbeat_s=0.05, handlers={ECHO: echo})
    t = threading.Thread(target=worker.run_once)
    t.start()
    assert halfway.wait(10)
    deadline = time.monotonic() + 10
    while state(rt, ok)["message"] != "halfway" and time.monotonic() < deadline:
        time.sleep(0.02)
    running = state(rt, ok)
    assert (running["status"], running["progress"], running["message"]) == ("running", 0.5, "halfway")
    assert spooled(rt) == [name]
    release.set()
    t.join()
    assert seen == {"file": b"secret rows", "env": "ENV"}
    assert state(rt, ok)["status"] == "succeeded" and state(rt, ok)["result"] == {"echo": 0}
    assert spooled(rt) == []  # the job has ended: its upload is gone

    assert worker.drain() == 2
    assert state(rt, bad)["error"]["code"] == "bad_import_file" and state(rt, bad)["error"]["details"] == {"line": 3}
    crashed = state(rt, boom)
    assert crashed["status"] == "failed" and crashed["error"]["code"] == "internal_error"
    assert "a bug" not in json.dumps(crashed["error"])  # an internal error's text stays in the server's log
    assert worker.run_once() is False


# --- the import job ------------------------------------------------------------------------

@pytest.fixture
def zone_setup(rt):
    with rt.store.transaction() as s:
        f.zone(s, "zone_a")
        f.org(s, "市场监管局", kind="provider", zone_code="zone_a")
    return "zone_a"


def _csv(rows=ROWS, header=HEADER, encoding="gbk") -> bytes:
    return (header + "\n" + "\n".join(",".join(r) for r in rows) + "\n").encode(encoding)


def _queue_import(rt, data: bytes, name="people", filename="人员名单.csv", **kw) -> int:
    return tasks.enqueue_import(rt.store, rt.settings.data_dir, io.BytesIO(data), filename=filename, name=name,
                                zone_code="zone_a", provider="市场监管局", actor=ALICE, **kw)


def _worker(rt) -> jobs.Worker:
    return jobs.Worker(rt.store, rt, data_dir=rt.settings.data_dir, handlers={tasks.IMPORT: tasks.run_import})


def test_an_import_job_reads_seals_catalogues_and_scans(rt, zone_setup):
    job_id = _queue_import(rt, _csv(), title="人员信息", level=3, basis="含身份证号", privacy_unit="身份证号")
    assert len(spooled(rt)) == 1
    assert state(rt, job_id)["payload"]["source"] == "人员名单.csv" and state(rt, job_id)["zone"] == "zone_a"
    assert _worker(rt).drain() == 1
    doc = state(rt, job_id)
    assert doc["status"] == "succeeded" and doc["result"] == {"dataset": "people", "scanned": True}
    with rt.store.sessions() as s:
        ds = cat.find_dataset(s, "people")
        # the level operator staff gave is a proposal: unconfirmed, the dataset counts as level 4
        assert (ds.title_zh, ds.level, ds.privacy_unit, ds.row_count) == ("人员信息", None, "身份证号", 2)
        assert proposed_level(s, ds) == 3 and effective_level(ds) == 4
        assert ds.suggested_level is not None  # scanned
        table = cat.load_table(s, rt.keystore, rt.suite, rt.datasets, ds)
        events = s.scalars(select(AuditEvent).where(AuditEvent.target_id == "people").order_by(AuditEvent.id)).all()
    assert table.column("姓名").to_pylist() == ["张三", "李四"]
    assert [e.action for e in events] == ["catalog.dataset.import", "catalog.proposal.create",
                                          "catalog.dataset.scan"]
    assert {e.actor for e in events} == {"user:alice"} and {e.request_id for e in events} == {"req-1"}
    assert json.loads(events[0].details)["source"] == "人员名单.csv"
    assert spooled(rt) == []


def test_an_import_reports_its_steps_in_order(rt, zone_setup):
    data_dir = rt.settings.data_dir
    name = spool.spool(data_dir, io.BytesIO(_csv()), ".csv")

    class Recorder:
        def __init__(self):
            self.id, self.zone, self.actor = 1, "zone_a", os_actor()
            self.payload = {"file": name, "source": "d.csv", "name": "people", "provider": "市场监管局"}
            self.steps: list[tuple[float, str]] = []

        def file(self, n):
            return spool.path_of(data_dir, n)

        def progress(self, fraction, step):
            self.steps.append((fraction, step))

    job = Recorder()
    assert tasks.run_import(job, rt) == {"dataset": "people", "scanned": True}
    assert [s for _, s in job.steps] == ["reading", "encrypting", "cataloguing", "scanning"]
    fractions = [x for x, _ in job.steps]
    assert fractions == sorted(fractions) and fractions[0] > 0 and fractions[-1] < 1


def test_a_bad_file_fails_the_job_with_its_line_and_leaves_nothing(rt, zone_setup):
    job_id = _queue_import(rt, "姓名,金额\n张三,1\n李四,2,3\n".encode("gbk"), name="bad_rows")
    taken = _queue_import(rt, _csv(), name="people")
    dup = _queue_import(rt, _csv(), name="people")  # queued before the first one ran: the name is taken by then
    assert _worker(rt).drain() == 3
    failed = state(rt, job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "bad_import_file"
    assert failed["error"]["details"]["line"] == 3 and "第 3 行" in failed["error"]["zh"]
    assert state(rt, taken)["status"] == "succeeded"
    assert state(rt, dup)["error"]["code"] == "dataset_exists"
    with rt.store.sessions() as s:
        assert list(s.scalars(select(Dataset.name))) == ["people"]
        imports = s.scalar(select(func.count()).select_from(AuditEvent)
                           .where(AuditEvent.action == "catalog.dataset.import"))
    assert imports == 1
    assert [p.name for p in (rt.settings.data_dir / "datasets").iterdir()] == ["1"]  # no sealed file of a failure
    assert spooled(rt) == []


def test_what_the_form_can_tell_is_refused_before_anything_is_queued(rt, zone_setup):
    with rt.store.transaction() as s:
        f.org(s, "某运营公司", kind="operator", zone_code="zone_a")
    for kw, code in (({"name": "Bad-Name"}, "invalid_dataset_name"), ({"provider": "某运营公司"}, "invalid_provider"),
                     ({"zone_code": "nowhere"}, "zone_not_found"), ({"level": 3, "basis": ""}, "basis_required"),
                     ({"level": 7, "basis": "x"}, "invalid_level")):
        args = {"name": "people", "zone_code": "zone_a", "provider": "市场监管局", "level": None, "basis": ""} | kw
        with rt.store.sessions() as s, pytest.raises(PdzoneError) as e:
            tasks.check_import(s, **args)
        assert e.value.code == code
    with pytest.raises(Invalid) as e:
        _queue_import(rt, _csv(), filename="people.txt.exe")
    assert e.value.code == "unsupported_format"
    with rt.store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(jobs.Job)) == 0
    assert spooled(rt) == []


def test_pdzone_worker_runs_the_queue_from_the_command_line(rt, zone_setup):
    import subprocess
    import sys

    job_id = _queue_import(rt, _csv(), name="from_the_cli")
    env = {**os.environ, "PDZONE_DATABASE_URL": rt.store.url, "PDZONE_DATA_DIR": str(rt.settings.data_dir),
           "PDZONE_KEYSTORE_PASSPHRASE": "test-passphrase"}
    r = subprocess.run([sys.executable, "-m", "pdzone", "worker", "--once"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "1 job(s) run" in r.stdout
    assert state(rt, job_id)["status"] == "succeeded"  # by the worker process, as it ran
    with rt.store.sessions() as s:
        assert cat.find_dataset(s, "from_the_cli").row_count == 2
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None))) == 0
    assert spooled(rt) == []
