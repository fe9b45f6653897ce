"""Limits and clean failure on bad input, over HTTP: body and upload sizes enforced while streaming (413, with a
declared Content-Length and with a chunked body), uploads that stream into the data directory's spool and never
the system temp directory and leave nothing when refused, a zip bomb refused at once, stale spools swept at
start, a full disk (507), malformed JSON of every kind (422), the OpenAPI document's error answers, and token
answers no cache may keep.

Each test gets a copy of the web suites' small seeded demo city, with small limits so that the payloads stay small.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pdzone.jobs import spool
from pdzone.web.app import create_app
from pdzone.web.demo import DEMO_PASSWORD
from pdzone.web.runtime import Runtime
from tests.catalog.test_import_limits import xlsx_bomb
from tests.web.test_api import token
from tests.web.test_console import copy_of, csrf_of, page_text, signed_in

BODY = 8 * 1024
UPLOAD = 256 * 1024
FORM = {"zone": "bj_comprehensive", "name": "uploaded", "provider": "北京市市场监督管理局"}


@pytest.fixture
def systmp(tmp_path, monkeypatch) -> Path:
    """The system temp directory, private to the test: whatever lands there is ours."""
    d = tmp_path / "systmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    assert tempfile.gettempdir() == str(d)
    return d


@pytest.fixture
def rt(seeded_dir: Path, tmp_path: Path):
    (tmp_path / "data").mkdir()
    runtime = copy_of(seeded_dir, tmp_path / "data")
    runtime.settings.max_body_bytes = BODY
    runtime.settings.max_upload_bytes = UPLOAD
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def client(rt: Runtime, systmp):
    with TestClient(create_app(rt, maintain_log=False, run_jobs=False)) as c:
        yield c


def spooled(rt: Runtime) -> list[str]:
    d = rt.settings.data_dir / spool.SPOOL_DIR
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def assert_house_413(r, limit: int) -> None:
    assert r.status_code == 413, r.text
    body = r.json()
    assert body["code"] == "payload_too_large" and body["details"] == {"limit": limit}
    assert body["message_zh"] and body["message_en"] and body["request_id"] == r.headers["x-request-id"]


def chunks(total: int, size: int = 4096):
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


# --- body and upload sizes -----------------------------------------------------------------

def test_a_body_over_the_limit_is_refused_with_content_length_and_chunked(client):
    big = {"username": "x" * BODY, "password": "p"}
    r = client.post("/api/v1/auth/token", json=big)
    assert_house_413(r, BODY)
    r = client.post("/api/v1/auth/token", content=chunks(BODY + 1), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers and r.request.headers["transfer-encoding"] == "chunked"
    assert_house_413(r, BODY)
    # a body that lies about its length is counted too
    r = client.post("/api/v1/auth/token", content=chunks(BODY + 100), headers={"content-type": "application/json",
                                                                                 "content-length": "10"})
    assert r.status_code in (400, 413, 422)
    # at the limit the request goes through (and fails for what it says)
    r = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "p"})
    assert r.status_code == 401
    # the console answers with its error page
    r = client.post("/login", data={"username": "x" * BODY})
    assert r.status_code == 413 and "text/html" in r.headers["content-type"]
    assert "payload_too_large" in page_text(r)


def test_an_upload_over_its_limit_is_refused_and_leaves_nothing_behind(client, rt, systmp):
    op = token(client, "operator")
    data = b"a,b\n" + b"1,2\n" * (UPLOAD // 4)
    r = client.post("/api/v1/datasets", data=FORM, files={"file": ("big.csv", data, "text/csv")}, headers=op)
    assert_house_413(r, UPLOAD)

    # chunked: the part already written to the spool is removed when the limit is passed
    body = httpx.Request("POST", "http://x", data=FORM, files={"file": ("big.csv", data, "text/csv")})
    raw = body.read()

    def stream():
        for i in range(0, len(raw), 16 * 1024):
            yield raw[i:i + 16 * 1024]

    r = client.post("/api/v1/datasets", content=stream(), headers={**op, "content-type": body.headers["content-type"]})
    assert "content-length" not in r.request.headers
    assert_house_413(r, UPLOAD)
    assert spooled(rt) == [] and os.listdir(systmp) == []

    # an upload within the limit is queued (and its file is in the spool, 0600, until its job ends)
    r = client.post("/api/v1/datasets", data=FORM, files={"file": ("ok.csv", data[:UPLOAD // 2], "text/csv")},
                    headers=op)
    assert r.status_code == 202, r.text
    (name,) = spooled(rt)
    assert stat.S_IMODE(os.stat(spool.path_of(rt.settings.data_dir, name)).st_mode) == 0o600
    assert os.listdir(systmp) == []


def test_a_console_upload_over_the_limit_gets_a_page_and_leaves_nothing(client, rt, systmp):
    signed_in(client, "operator")
    csrf = csrf_of(client.get("/catalog/import").text)
    data = b"a,b\n" + b"1,2\n" * (UPLOAD // 4)
    r = client.post("/catalog/import", data={**FORM, "csrf": csrf}, files={"file": ("big.csv", data, "text/csv")},
                    follow_redirects=False)
    assert r.status_code == 413 and "text/html" in r.headers["content-type"]
    assert "payload_too_large" in page_text(r) and str(UPLOAD) in page_text(r)
    assert spooled(rt) == [] and os.listdir(systmp) == []
    # a refused form (bad CSRF) removes the file it had already spooled
    r = client.post("/catalog/import", data={**FORM, "csrf": "forged"},
                    files={"file": ("ok.csv", data[:UPLOAD // 2], "text/csv")}, follow_redirects=False)
    assert r.status_code == 403 and spooled(rt) == [] and os.listdir(systmp) == []


def test_an_upload_streams_into_the_data_dir_spool_and_never_the_temp_dir(rt, systmp):
    """While the body is still arriving, its file is already in the spool (0600) and the temp dir is empty; a
    client that stops half-way leaves nothing."""
    # an event loop of its own, in a thread of its own: the browser suite's loop may be running in this one
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _streams_into_the_spool(rt, systmp)).result()


async def _streams_into_the_spool(rt, systmp):
    rt.settings.max_upload_bytes = 4 * 1024 * 1024
    app = create_app(rt, maintain_log=False, run_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pdzone") as c:
        r = await c.post("/api/v1/auth/token", json={"username": "operator", "password": DEMO_PASSWORD})
        op = {"Authorization": f"Bearer {r.json()['access_token']}"}
        data = b"a,b\n" + b"1,2\n" * 400_000  # 1.6 MB: Starlette's UploadFile would have moved it to the temp dir
        raw_request = httpx.Request("POST", "http://x", data=FORM, files={"file": ("p.csv", data, "text/csv")})
        raw = raw_request.read()
        seen = {}

        async def body():
            for i in range(0, len(raw), 64 * 1024):
                if i > len(raw) // 2 and "mid" not in seen:
                    seen["mid"] = (spooled(rt), os.listdir(systmp))
                yield raw[i:i + 64 * 1024]

        r = await c.post("/api/v1/datasets", content=body(),
                         headers={**op, "content-type": raw_request.headers["content-type"]})
        assert r.status_code == 202, r.text
        (name,), tmp_files = seen["mid"]
        assert tmp_files == [] and name.endswith(".csv")
        assert spool.path_of(rt.settings.data_dir, name).read_bytes() == data  # the complete file, once done

        async def cut_off():
            yield raw[: len(raw) // 2]
            raise httpx.ReadError("the client went away")

        with pytest.raises(httpx.ReadError):
            await c.post("/api/v1/datasets", content=cut_off(),
                         headers={**op, "content-type": raw_request.headers["content-type"]})
    assert spooled(rt) == [name] and os.listdir(systmp) == []


def test_an_xlsx_bomb_upload_is_refused_at_once(rt, tmp_path, systmp):
    rt.settings.max_upload_bytes = 10_000_000
    bomb = xlsx_bomb(tmp_path / "bomb.xlsx").read_bytes()
    with TestClient(create_app(rt, maintain_log=False, run_jobs=False)) as client:
        op = token(client, "operator")
        t0 = time.perf_counter()
        r = client.post("/api/v1/datasets", data=FORM, headers=op,
                        files={"file": ("bomb.xlsx", bomb, "application/octet-stream")})
        elapsed = time.perf_counter() - t0
    assert r.status_code == 422 and r.json()["code"] == "import_compression_ratio", r.text
    assert elapsed < 3.0, elapsed
    assert spooled(rt) == [] and os.listdir(systmp) == []


# --- the spool at start --------------------------------------------------------------------

def test_stale_spools_are_swept_when_the_server_starts(rt, systmp):
    import io

    crashed = spool.spool(rt.settings.data_dir, io.BytesIO(b"plaintext left by a crash"), ".csv")
    old = time.time() - 2 * rt.settings.spool_stale_after_s
    os.utime(spool.path_of(rt.settings.data_dir, crashed), (old, old))
    with TestClient(create_app(rt, maintain_log=False, run_jobs=True)):
        assert spooled(rt) == []


# --- full disk, malformed input ------------------------------------------------------------

def test_a_full_disk_is_507(client, rt, monkeypatch):
    op = token(client, "operator")

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool, "create", full)
    r = client.post("/api/v1/datasets", data=FORM, files={"file": ("ok.csv", b"a,b\n1,2\n", "text/csv")}, headers=op)
    assert r.status_code == 507 and r.json()["code"] == "storage_full", r.text
    monkeypatch.undo()

    import pdzone.web.api.datasets as api_datasets

    monkeypatch.setattr(api_datasets.cq, "list_datasets", full)
    r = client.get("/api/v1/datasets", headers=op)
    assert r.status_code == 507 and r.json()["code"] == "storage_full" and "Traceback" not in r.text


@pytest.mark.parametrize("body", [
    b'{"username": "a", "password": ',            # bad syntax
    b'{"username": ["a"], "password": 1}',        # wrong types
    b"[" * 4000 + b"]" * 4000,                    # nesting deeper than the parser's recursion
    b'{"username": "a", "password": "p", "otp": ' + b"9" * 5000 + b"}",  # an integer too long to read
    b'{"username": "\xff\xfe", "password": "p"}',  # not UTF-8
    b"\x00\x01\x02",
], ids=["syntax", "types", "nesting", "huge-number", "utf8", "binary"])
def test_malformed_json_is_422_invalid_request(client, body):
    r = client.post("/api/v1/auth/token", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    doc = r.json()
    assert doc["code"] == "invalid_request" and doc["details"]["errors"] and "Traceback" not in r.text


@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/login"])
@pytest.mark.parametrize("ctype, body", [
    ("multipart/form-data", b"no boundary"),
    ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n"),
], ids=["no-boundary", "no-name"])
def test_malformed_forms_are_422_on_the_api_and_the_console(client, path, ctype, body):
    r = client.post(path, content=body, headers={"content-type": ctype})
    assert r.status_code == 422, r.text  # the console's was a 500 page
    if path.startswith("/api/"):
        assert r.json()["code"] == "invalid_request"
    else:
        assert "text/html" in r.headers["content-type"] and "invalid_request" in page_text(r)


def test_malformed_upload_forms_are_422(client):
    op = token(client, "operator")
    r = client.post("/api/v1/datasets", content=b"--nope\r\ngarbage", headers={
        **op, "content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    r = client.post("/api/v1/datasets", data=FORM, headers=op)  # no file
    assert r.status_code == 422 and r.json()["details"]["errors"][0]["loc"] == ["body", "file"]
    r = client.post("/api/v1/datasets", data={**FORM, "level": "9"}, files={"file": ("a.csv", b"a\n1\n")}, headers=op)
    assert r.status_code == 422 and r.json()["details"]["errors"][0]["loc"] == ["body", "level"]


# --- the OpenAPI document, token answers ---------------------------------------------------

def test_openapi_declares_the_error_answers_of_every_route(client):
    doc = client.get("/openapi.json").json()
    assert set(doc["components"]["schemas"]["ErrorOut"]["required"]) >= {"code", "message", "request_id"}
    ops = [(path, method, op) for path, item in doc["paths"].items() if path.startswith("/api/v1/")
           for method, op in item.items()]
    assert len(ops) > 20
    for path, method, op in ops:
        for status in ("401", "403", "413", "422", "500", "507"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
    upload = doc["paths"]["/api/v1/datasets"]["post"]
    assert "202" in upload["responses"] and "multipart/form-data" in upload["requestBody"]["content"]
    assert "/api/v1/jobs/{job_id}" in doc["paths"]


def test_token_answers_are_not_cached(client):
    r = client.post("/api/v1/auth/token", json={"username": "operator", "password": "wrong"})
    assert r.status_code == 401
    r = client.post("/api/v1/auth/token", json={"username": "operator", "password": DEMO_PASSWORD})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    op = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = client.post("/api/v1/auth/api-tokens", json={"scopes": ["catalog.dataset.read"], "days": 7}, headers=op)
    assert r.status_code == 201, r.text
    assert r.json()["token"] and r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("columns", [20_000, 300_000])
def test_a_wide_csv_upload_is_refused_at_once_and_leaves_nothing(rt, systmp, columns):
    """A 169 KB CSV of 20,000 columns and one row drove the import's scan to 21 GB; 300,000 columns held a core."""
    rt.settings.max_upload_bytes = 10_000_000
    header = ",".join(f"c{i}" for i in range(columns)).encode()
    data = header + b"\n" + b",".join(b"1" for _ in range(columns)) + b"\n"
    with TestClient(create_app(rt, maintain_log=False, run_jobs=False)) as client:
        op = token(client, "operator")
        t0 = time.perf_counter()
        r = client.post("/api/v1/datasets", data={**FORM, "name": "wide"}, headers=op,
                        files={"file": ("wide.csv", data, "text/csv")})
        elapsed = time.perf_counter() - t0
        assert r.status_code == 413 and r.json()["code"] == "import_too_many_columns", r.text
        assert r.json()["details"]["limit"] == 1000
        assert elapsed < 3.0, elapsed
        assert client.get("/api/v1/datasets/wide", headers=op).status_code == 404
    assert spooled(rt) == [] and os.listdir(systmp) == []


def _form_body(boundary: str, *, closed: bool = True) -> bytes:
    parts = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                     for k, v in {**FORM, "name": "cut"}.items())
    parts += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.csv"\r\n'
              f"Content-Type: text/csv\r\n\r\n").encode() + b"a,b\n1,2\n3,4\n"
    return parts + (f"\r\n--{boundary}--\r\n".encode() if closed else b"")


@pytest.mark.parametrize("length", [71, 300, 100_000])
def test_a_boundary_longer_than_rfc_2046_allows_is_422_on_the_api_and_the_console(client, rt, systmp, length):
    op = token(client, "operator")
    b = "a" * length
    body = _form_body(b) if length < 1000 else b"--" + b[:1000].encode()  # the header is what is refused
    r = client.post("/api/v1/datasets", content=body, headers={
        **op, "content-type": f"multipart/form-data; boundary={b}"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text  # 300 and more were a 500
    signed_in(client, "operator")
    r = client.post("/catalog/import", content=body, headers={
        "content-type": f"multipart/form-data; boundary={b}"}, follow_redirects=False)
    assert r.status_code == 422 and "invalid_request" in page_text(r)
    assert spooled(rt) == [] and os.listdir(systmp) == []


def test_a_body_cut_before_its_closing_boundary_is_refused_and_its_file_removed(client, rt, systmp):
    op = token(client, "operator")
    b = "x" * 70
    r = client.post("/api/v1/datasets", content=_form_body(b, closed=False), headers={
        **op, "content-type": f"multipart/form-data; boundary={b}"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text  # was 202, and imported
    assert "closing boundary" in r.json()["message_en"]
    assert spooled(rt) == [] and os.listdir(systmp) == []
    signed_in(client, "operator")
    r = client.post("/catalog/import", content=_form_body(b, closed=False), headers={
        "content-type": f"multipart/form-data; boundary={b}"}, follow_redirects=False)
    assert r.status_code == 422 and "invalid_request" in page_text(r)
    assert spooled(rt) == []
    # the same body, closed, is queued
    r = client.post("/api/v1/datasets", content=_form_body(b), headers={
        **op, "content-type": f"multipart/form-data; boundary={b}"})
    assert r.status_code == 202, r.text
