"""What an import may read: zip bombs refused from the archive's directory before any parsing, the real extent of
a sheet whose stored dimension is stale, row and cell caps for xlsx, CSV and Parquet, and a job that runs out of
memory or disk failing with its own code.

`xlsx_bomb` builds a real workbook whose sheet is over 1 GB of XML in a few MB of zip, by repeating one deflate
block (compressed once, after a full flush, so every copy is the same bytes): the test makes it in well under a
second and never holds the gigabyte.
"""

from __future__ import annotations

import errno
import io
import re
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pdzone import jobs
from pdzone.audit.events import Actor
from pdzone.catalog import tasks
from pdzone.catalog.importing import Limits, check_xlsx, read_source
from pdzone.errors import PdzoneError
from pdzone.jobs import spool
from tests import factories as f

ALICE = Actor(name="user:alice", user_id=7, org_id=3, source_ip="10.0.0.8", request_id="req-1")

_TYPES = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
          b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
          b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
          b'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
          b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
          b'officedocument.spreadsheetml.worksheet+xml"/></Types>')
_RELS = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         b'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
             b'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
             b'<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            b'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')


def xlsx_bomb(path: Path, *, expanded: int = 1_200_000_000) -> Path:
    """A valid workbook: a header row, then ~`expanded` bytes of identical rows (written, never held)."""
    head = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main"><sheetData><row><c t="inlineStr"><is><t>a</t></is></c></row>')
    block = b'<row><c t="inlineStr"><is><t>xxxxxxxx</t></is></c></row>' * 20_000  # about 1.1 MB
    tail = b"</sheetData></worksheet>"
    copies = expanded // len(block) + 1
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    z_head = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    z_block = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    z_tail = c.compress(tail) + c.flush()
    crc = zlib.crc32(head)
    for _ in range(copies):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + copies * len(block) + len(tail)
    csize = len(z_head) + copies * len(z_block) + len(z_tail)
    members = []
    with path.open("wb") as out:
        def local(name: bytes, crc: int, csize: int, size: int) -> None:
            members.append((name, crc, csize, size, out.tell()))
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, csize, size, len(name), 0) + name)

        for name, data in ((b"[Content_Types].xml", _TYPES), (b"_rels/.rels", _RELS), (b"xl/workbook.xml", _WORKBOOK),
                           (b"xl/_rels/workbook.xml.rels", _WB_RELS)):
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            z = comp.compress(data) + comp.flush()
            local(name, zlib.crc32(data), len(z), len(data))
            out.write(z)
        local(b"xl/worksheets/sheet1.xml", crc, csize, size)
        out.write(z_head)
        for _ in range(copies):
            out.write(z_block)
        out.write(z_tail)
        cd = out.tell()
        for name, crc_, csize_, size_, offset in members:
            out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc_, csize_, size_,
                                  len(name), 0, 0, 0, 0, 0, offset) + name)
        end = out.tell()
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), end - cd, cd, 0))
    return path


def test_the_bomb_is_a_real_workbook(tmp_path):
    """The test's bomb, small, is a workbook openpyxl reads (so the big one is refused for its size alone)."""
    small = xlsx_bomb(tmp_path / "small.xlsx", expanded=3_000_000)
    with zipfile.ZipFile(small) as z:
        assert z.testzip() is None
    src = read_source(small, Limits(max_ratio=10_000))
    assert src.table.column_names == ["a"] and src.table.num_rows == 3 * 20_000


def test_an_xlsx_bomb_is_refused_from_its_directory_fast_and_in_little_memory(tmp_path):
    bomb = xlsx_bomb(tmp_path / "bomb.xlsx")
    stated = sum(m.file_size for m in zipfile.ZipFile(bomb).infolist())
    assert bomb.stat().st_size < 5_000_000 and stated > 1_000_000_000  # a few MB, over 1 GB once expanded
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(PdzoneError) as e:
        read_source(bomb)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert e.value.code == "import_compression_ratio" and e.value.status == 422
    assert e.value.details["member"] == "xl/worksheets/sheet1.xml" and e.value.details["ratio"] > 100
    assert elapsed < 1.0 and peak < 5_000_000  # nothing was decompressed (was: 311 s and 4.1 GB)

    # a workbook that compresses normally but would still expand past the limit is refused too, for its size
    with pytest.raises(PdzoneError) as e:
        check_xlsx(bomb, Limits(max_ratio=10_000, max_uncompressed=1_000_000_000))
    assert e.value.code == "import_too_large" and e.value.status == 413 and e.value.details["size"] == stated


def _workbook(path: Path, rows: int, cols: int = 2) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([f"c{j}" for j in range(cols)])
    for i in range(rows):
        ws.append([i] + [f"v{i}-{j}" for j in range(1, cols)])
    wb.save(path)
    return path


def _stale(path: Path, ref: str = "A1:A2") -> Path:
    """The same workbook with its stored <dimension> left stale, as other programs write it."""
    out = path.with_name("stale-" + path.name)
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>'.encode(), data)
                assert n == 1
            zout.writestr(info, data)
    return out


def test_a_stale_sheet_dimension_does_not_cut_rows_or_columns(tmp_path):
    """openpyxl's read-only mode trusts <dimension>: a sheet that says A1:A2 imported 1 row of 1 column."""
    stale = _stale(_workbook(tmp_path / "people.xlsx", rows=5000, cols=3))
    src = read_source(stale)
    assert src.table.column_names == ["c0", "c1", "c2"] and src.table.num_rows == 5000
    assert src.table.column("c0").to_pylist()[-1] == 4999 and src.table.column("c2").to_pylist()[-1] == "v4999-2"


def _csv(path: Path, rows: int, cols: int = 2) -> Path:
    path.write_text(",".join(f"c{j}" for j in range(cols)) + "\n"
                    + "".join(",".join(f"{i}-{j}" for j in range(cols)) + "\n" for i in range(rows)), "utf-8")
    return path


def _parquet(path: Path, rows: int, cols: int = 2) -> Path:
    pq.write_table(pa.table({f"c{j}": [f"{i}-{j}" for i in range(rows)] for j in range(cols)}), path)
    return path


@pytest.mark.parametrize("make", [_csv, _parquet, _workbook], ids=["csv", "parquet", "xlsx"])
def test_row_and_cell_caps(tmp_path, make):
    suffix = {"_csv": ".csv", "_parquet": ".parquet", "_workbook": ".xlsx"}[make.__name__]
    path = make(tmp_path / f"t{suffix}", 5000, 4)
    assert read_source(path, Limits(max_rows=5000, max_cells=20_000)).table.num_rows == 5000  # at the caps
    with pytest.raises(PdzoneError) as e:
        read_source(path, Limits(max_rows=4999))
    assert (e.value.code, e.value.status, e.value.details["limit"]) == ("import_too_many_rows", 413, 4999)
    with pytest.raises(PdzoneError) as e:
        read_source(path, Limits(max_cells=19_999))
    assert (e.value.code, e.value.status) == ("import_too_many_cells", 413)


def test_the_working_memory_estimate_is_capped(tmp_path):
    path = _csv(tmp_path / "t.csv", 20_000, 4)
    with pytest.raises(PdzoneError) as e:
        read_source(path, Limits(memory=path.stat().st_size))
    assert e.value.code == "import_too_large" and e.value.details["what"] == "memory"
    xlsx = _workbook(tmp_path / "t.xlsx", 20_000, 4)
    with pytest.raises(PdzoneError) as e:
        read_source(xlsx, Limits(memory=1_000_000))
    assert e.value.code == "import_too_large" and e.value.details["what"] == "memory"


# --- as a job ------------------------------------------------------------------------------

@pytest.fixture
def zone_setup(rt):
    with rt.store.transaction() as s:
        f.zone(s, "zone_a")
        f.org(s, "市场监管局", kind="provider", zone_code="zone_a")
    return "zone_a"


def _queue(rt, path: Path, name: str) -> int:
    return tasks.enqueue_import(rt.store, rt.settings.data_dir, io.BytesIO(path.read_bytes()), filename=path.name,
                                name=name, zone_code="zone_a", provider="市场监管局", actor=ALICE)


def _run(rt) -> None:
    jobs.Worker(rt.store, rt, data_dir=rt.settings.data_dir, handlers={tasks.IMPORT: tasks.run_import}).drain()


def _state(rt, job_id: int) -> dict:
    with rt.store.sessions() as s:
        return jobs.job_json(jobs.get_job(s, job_id))


def test_a_bomb_is_refused_before_it_is_queued_and_leaves_no_spool(rt, zone_setup, tmp_path):
    with pytest.raises(PdzoneError) as e:
        _queue(rt, xlsx_bomb(tmp_path / "bomb.xlsx"), "bombed")
    assert e.value.code == "import_compression_ratio"
    assert list((rt.settings.data_dir / spool.SPOOL_DIR).iterdir()) == []


def test_an_import_job_uses_the_settings_caps_and_the_real_sheet_extent(rt, zone_setup, tmp_path):
    rt.settings.import_max_rows = 3000
    stale = _stale(_workbook(tmp_path / "people.xlsx", rows=2500))
    ok = _queue(rt, stale, "people")
    too_many = _queue(rt, _csv(tmp_path / "many.csv", 3001), "many")
    _run(rt)
    assert _state(rt, ok)["status"] == "succeeded"
    with rt.store.sessions() as s:
        from pdzone.catalog.actions import find_dataset

        assert find_dataset(s, "people").row_count == 2500
    failed = _state(rt, too_many)
    assert failed["status"] == "failed" and failed["error"]["code"] == "import_too_many_rows"
    assert list((rt.settings.data_dir / spool.SPOOL_DIR).iterdir()) == []


@pytest.mark.parametrize("boom", [MemoryError(), OSError(errno.ENOSPC, "No space left on device")],
                         ids=["memory", "disk"])
def test_a_job_out_of_memory_or_disk_fails_with_its_code(rt, zone_setup, tmp_path, monkeypatch, boom):
    job_id = _queue(rt, _csv(tmp_path / "t.csv", 10), "t")

    def explode(*a, **kw):
        raise boom

    monkeypatch.setattr(tasks, "read_source", explode)
    _run(rt)
    err = _state(rt, job_id)["error"]
    assert err["code"] == ("job_out_of_memory" if isinstance(boom, MemoryError) else "storage_full")
    assert list((rt.settings.data_dir / spool.SPOOL_DIR).iterdir()) == []


def test_stale_spools_are_swept_but_owned_and_fresh_ones_kept(rt, zone_setup, tmp_path):
    import os

    data_dir = rt.settings.data_dir
    owned = spool.spool(data_dir, io.BytesIO(b"queued upload"), ".csv")
    with rt.store.transaction() as s:
        jobs.enqueue(s, kind=tasks.IMPORT, actor=ALICE, zone="zone_a", files=[owned], payload={"file": owned})
    crashed = spool.spool(data_dir, io.BytesIO(b"plaintext left by a crash"), ".csv")
    fresh = spool.spool(data_dir, io.BytesIO(b"being written now"), ".csv")
    old = time.time() - 7200
    for name in (owned, crashed):
        os.utime(spool.path_of(data_dir, name), (old, old))
    gone = jobs.worker.sweep_spools(rt.store, data_dir, older_than_s=3600)
    assert gone == [crashed]
    assert sorted(p.name for p in (data_dir / spool.SPOOL_DIR).iterdir()) == sorted([owned, fresh])


def test_pdzone_worker_sweeps_the_spool_and_runs_under_its_memory_limit(rt, zone_setup, tmp_path):
    """`pdzone worker` at start removes an upload a crash left behind, and runs its jobs under RLIMIT_AS."""
    import os
    import subprocess
    import sys

    data_dir = rt.settings.data_dir
    crashed = spool.spool(data_dir, io.BytesIO(b"plaintext left by a crash"), ".csv")
    old = time.time() - 2 * rt.settings.spool_stale_after_s
    os.utime(spool.path_of(data_dir, crashed), (old, old))
    job_id = _queue(rt, _csv(tmp_path / "t.csv", 100), "t")
    probe = ("import resource, runpy, sys; sys.argv = ['pdzone', 'worker', '--once']\n"
             "try:\n    runpy.run_module('pdzone', run_name='__main__')\n"
             "finally:\n    print('RLIMIT_AS', resource.getrlimit(resource.RLIMIT_AS)[0])")
    env = {**os.environ, "PDZONE_DATABASE_URL": rt.settings.resolved_database_url, "PDZONE_DATA_DIR": str(data_dir),
           "PDZONE_KEYSTORE_PASSPHRASE": rt.settings.keystore_passphrase, "PDZONE_WORKER_MEMORY_LIMIT": "6GiB"}
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "1 job(s) run" in r.stdout and f"RLIMIT_AS {6 * 2**30}" in r.stdout
    assert _state(rt, job_id)["status"] == "succeeded"
    assert list((data_dir / spool.SPOOL_DIR).iterdir()) == []


def test_without_explicit_limits_the_settings_apply(tmp_path, monkeypatch):
    """The command line's import (`pdzone dataset import`) reads its limits from PDZONE_IMPORT_*."""
    from pdzone.config import reset_settings

    path = _csv(tmp_path / "t.csv", 10)
    monkeypatch.setenv("PDZONE_IMPORT_MAX_ROWS", "9")
    reset_settings()
    try:
        with pytest.raises(PdzoneError) as e:
            read_source(path)
        assert e.value.code == "import_too_many_rows" and e.value.details["limit"] == 9
    finally:
        monkeypatch.undo()
        reset_settings()
    assert read_source(path).table.num_rows == 10


# --- wide files: the column cap, checked from the header before any row is parsed ---------------

def _wide_csv(path: Path, columns: int, rows: int = 1) -> Path:
    header = ",".join(f"c{i}" for i in range(columns))
    path.write_text(header + "\n" + "".join(",".join("1" for _ in range(columns)) + "\n" for _ in range(rows)))
    return path


@pytest.mark.parametrize("columns", [20_000, 300_000])
def test_a_wide_csv_is_refused_fast_at_the_queue_and_in_the_job(rt, zone_setup, tmp_path, columns):
    """A 169 KB CSV of 20,000 columns drove the scan to 21 GB; 300,000 columns held a core for minutes."""
    wide = _wide_csv(tmp_path / "wide.csv", columns, rows=2)
    t0 = time.perf_counter()
    with pytest.raises(PdzoneError) as e:
        _queue(rt, wide, "wide")
    assert e.value.code == "import_too_many_columns" and e.value.status == 413
    assert e.value.details == {"limit": 1000, "columns": columns}
    # the job checks again, whatever let the file into the queue
    job_id = tasks.enqueue_import(rt.store, rt.settings.data_dir, io.BytesIO(wide.read_bytes()),
                                  filename=wide.name, name="wide", zone_code="zone_a", provider="市场监管局",
                                  actor=ALICE, limits=Limits(max_columns=columns, memory=10**13))
    _run(rt)
    elapsed = time.perf_counter() - t0
    failed = _state(rt, job_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "import_too_many_columns"
    assert elapsed < 3.0, elapsed
    assert list((rt.settings.data_dir / spool.SPOOL_DIR).iterdir()) == []
    with rt.store.sessions() as s:
        from pdzone.catalog.models import Dataset

        assert s.query(Dataset).filter_by(name="wide").count() == 0


def test_the_column_cap_holds_for_xlsx_and_parquet_before_rows_are_read(tmp_path):
    limits = Limits(max_columns=50)
    pq.write_table(pa.table({f"c{i}": ["x"] for i in range(51)}), tmp_path / "wide.parquet")
    wb = openpyxl.Workbook()
    wb.active.append([f"c{i}" for i in range(51)])
    wb.active.append(["x"] * 51)
    wb.save(tmp_path / "wide.xlsx")
    for name in ("wide.parquet", "wide.xlsx"):
        with pytest.raises(PdzoneError) as e:
            read_source(tmp_path / name, limits)
        assert e.value.code == "import_too_many_columns", name
    # at the cap the file is read
    pq.write_table(pa.table({f"c{i}": ["x"] for i in range(50)}), tmp_path / "ok.parquet")
    assert read_source(tmp_path / "ok.parquet", limits).table.num_columns == 50


def test_a_csv_header_of_many_columns_costs_its_memory_estimate(tmp_path):
    """The estimate counts the columns: a small file of many columns is refused for its working memory."""
    wide = _wide_csv(tmp_path / "w.csv", 900)
    with pytest.raises(PdzoneError) as e:
        read_source(wide, Limits(memory=100 * 1024 * 1024))
    assert e.value.code == "import_too_large" and e.value.details["what"] == "memory"
    assert read_source(_wide_csv(tmp_path / "n.csv", 10), Limits(memory=100 * 1024 * 1024)).table.num_columns == 10
