"""NUL (and other control characters in names) refused at the edge with 422 `invalid_request`, on every route
and on both databases: PostgreSQL text cannot hold a NUL, and a NUL that reached SQL there was a 500 (SQLite
took it). A sign-in with such a name is refused before it is an attempt: not counted, not logged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pdzone.audit.models import AuditEvent
from pdzone.web import demo
from pdzone.web.app import create_app
from pdzone.web.demo import DEMO_PASSWORD
from tests.conftest import make_runtime
from tests.web.test_api import token

ATTACKS = [
    ("POST", "/api/v1/auth/token", {"username": "a\u0000b", "password": "x"}),
    ("GET", "/api/v1/datasets/a%00b", None),
    ("GET", "/api/v1/datasets/a%00b/preview", None),
    ("GET", "/api/v1/datasets?zone=a%00", None),
    ("GET", "/api/v1/cleanroom/mock/a%00", None),
    ("PATCH", "/api/v1/datasets/social_insurance", {"description": "a\u0000b"}),
    ("PATCH", "/api/v1/datasets/social_insurance", {"description": "ok", "tags": ["x\u0000"]}),
    ("GET", "/api/v1/datasets/a%01b", None),          # a control character in a name
    ("GET", "/api/v1/datasets?zone=bj%0Acomprehensive", None),
]


@pytest.fixture
def client(tmp_path, db_url):
    rt = make_runtime(tmp_path, db_url)
    demo.seed(rt, rows=50)
    with TestClient(create_app(rt, maintain_log=False, run_jobs=False)) as c:
        c.rt = rt
        yield c
    rt.store.dispose()


def logins(client) -> int:
    with client.rt.store.sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "identity.session.login"))


def test_nul_and_control_characters_are_422_on_every_route(client):
    op = token(client, "operator")
    before = logins(client)
    for method, path, body in ATTACKS:
        r = client.request(method, path, json=body, headers=op)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        doc = r.json()
        assert doc["code"] == "invalid_request" and doc["details"]["errors"], (path, doc)
    assert logins(client) == before  # the refused sign-in was not an attempt
    # a URL-encoded console form with a NUL: refused the same way, with the console's page
    r = client.post("/login", data={"username": "a\x00b", "password": "x"}, follow_redirects=False)
    assert r.status_code == 422 and "invalid_request" in r.text
    # the same requests without the NUL still work
    assert client.request("PATCH", "/api/v1/datasets/social_insurance", json={"description": "ab"},
                          headers=op).status_code == 200
    assert client.get("/api/v1/datasets?zone=bj_comprehensive", headers=op).status_code == 200
    r = client.post("/api/v1/auth/token", json={"username": "operator", "password": DEMO_PASSWORD})
    assert r.status_code == 200
    # an escaped backslash before "u0000" is text, not a NUL
    r = client.request("PATCH", "/api/v1/datasets/social_insurance", json={"description": "a\\u0000b"},
                       headers=op)
    assert r.status_code == 200, r.text


def test_a_nul_past_the_edge_is_422_not_500(client, monkeypatch):
    """The backstop: should a NUL reach the database another way, PostgreSQL's refusal is answered 422."""
    from pdzone.web import guard

    monkeypatch.setattr(guard, "check_body", lambda *a: None)
    monkeypatch.setattr(guard, "check_target", lambda *a: None)
    op = token(client, "operator")
    r = client.request("PATCH", "/api/v1/datasets/social_insurance", json={"description": "a\u0000b"}, headers=op)
    assert r.status_code in (200, 422), r.text  # SQLite keeps the NUL; PostgreSQL refuses it: 422, not 500
    if client.rt.store.engine.dialect.name == "postgresql":
        assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_a_nul_in_an_upload_form_is_422_and_leaves_nothing(client):
    import httpx

    from tests.web.test_limits import FORM, spooled

    op = token(client, "operator")
    r = client.post("/api/v1/datasets", data={**FORM, "title": "a\x00b"},
                    files={"file": ("t.csv", b"a,b\n1,2\n", "text/csv")}, headers=op)
    assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text
    raw = httpx.Request("POST", "http://x", data=FORM, files={"file": ("t%00.csv", b"a,b\n1,2\n", "text/csv")})
    body = raw.read().replace(b"t%00.csv", b"t\x00.csv")  # httpx escapes it; a raw client need not
    r = client.post("/api/v1/datasets", content=body, headers={**op, "content-type": raw.headers["content-type"]})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text
    assert spooled(client.rt) == []
