"""The one door out: canary values planted in zone data leave by no route except the egress gate.

Every GET route of the API and the console is crawled as every demo role. A canary in a level-3
dataset must never appear; a canary in a level-1 column whose policy keeps it may appear only in
that dataset's masked preview, which the gate audited.
"""

from __future__ import annotations

import re

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pdzone.audit.events import os_actor
from pdzone.audit.models import AuditEvent
from pdzone.catalog.actions import do_scan, import_dataset
from pdzone.web.app import create_app
from pdzone.web.context import SESSION_COOKIE
from pdzone.web.demo import DEMO_PASSWORD, USERS, demo_totp_secret, seed

CANARY_L1 = "CANARY-L1-9f3b7c"
CANARY_L3 = "CANARY-L3-4e8d21"
CANARY_ID = "11010519491001002X"  # a valid ID number in the level-3 data


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    from tests.conftest import make_runtime

    d = tmp_path_factory.mktemp("canary")
    rt = make_runtime(d, f"sqlite:///{d}/c.db")
    seed(rt, rows=100)
    for name, level, rows in (("canary_l1", 1, [("东城区", CANARY_L1, "3")] * 30),
                              ("canary_l3", 3, [(CANARY_ID, CANARY_L3, "5")] * 30)):
        path = d / f"{name}.csv"
        header = "区县,备注,数量" if level == 1 else "身份证号,备注,数量"
        path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
        ds = import_dataset(rt.store, rt.keystore, rt.suite, rt.datasets, path, name=name, zone_code="bj_comprehensive",
                            provider="北京市市场监督管理局", actor=os_actor(), level=level, basis="测试")
        with rt.store.transaction() as s:
            do_scan(s, rt.keystore, rt.suite, rt.datasets, s.merge(ds), actor=os_actor())
    app = create_app(rt, maintain_log=False)
    leaks = []
    with TestClient(app) as c:
        for username, _, role, _ in USERS:
            body = {"username": username, "password": DEMO_PASSWORD}
            if role in ("system_admin", "security_admin", "auditor"):
                body["otp"] = pyotp.TOTP(demo_totp_secret(username)).now()
            tok = c.post("/api/v1/auth/token", json=body).json()["access_token"]
            for path in _paths(app):
                c.cookies.clear()
                api = c.get(path, headers={"Authorization": f"Bearer {tok}"})
                c.cookies.set(SESSION_COOKIE, tok)
                console = c.get(path, follow_redirects=False)
                c.cookies.clear()
                for r in (api, console):
                    for canary in (CANARY_L1, CANARY_L3, CANARY_ID):
                        if canary in r.text:
                            leaks.append((username, path, canary, r.status_code))
    with rt.store.sessions() as s:
        released = s.scalars(select(AuditEvent).where(AuditEvent.action == "egress.preview.release",
                                                      AuditEvent.target_id == "canary_l1")).all()
    yield leaks, released, _paths(app)
    rt.store.dispose()


def _get_routes(routes, prefix=""):
    """Every GET path, through included routers (FastAPI keeps them nested)."""
    for r in routes:
        if hasattr(r, "original_router"):
            yield from _get_routes(r.original_router.routes, prefix + (r.include_context.prefix or ""))
        elif "GET" in (getattr(r, "methods", None) or set()):
            yield prefix + r.path


def _paths(app) -> list[str]:
    names = ["canary_l1", "canary_l3", "social_insurance", "enterprise_registry"]
    out = []
    for path in _get_routes(app.routes):
        if path in ("/openapi.json", "/logout"):
            continue
        if "{name}" in path:
            out += [path.replace("{name}", n) for n in names]
        else:
            out.append(re.sub(r"\{[a-z_]+\}", "1", path))
    return out


def test_the_crawl_covers_the_api_and_the_console(crawled):
    paths = crawled[2]
    assert "/api/v1/datasets/canary_l1/preview" in paths and "/api/v1/audit/events" in paths
    assert "/log" in paths and "/" in paths and len(paths) > 30


def test_level3_canaries_never_leave(crawled):
    leaks, _, _ = crawled
    assert not [x for x in leaks if x[2] in (CANARY_L3, CANARY_ID)]


def test_level1_canary_leaves_only_through_the_audited_gate(crawled):
    leaks, released, _ = crawled
    routes = {(path, status) for _, path, canary, status in leaks if canary == CANARY_L1}
    assert routes == {("/api/v1/datasets/canary_l1/preview", 200)}  # the preview, nothing else
    who = {u for u, _, c, _ in leaks if c == CANARY_L1}
    assert who == {"provider", "operator"}  # the provider (own data) and filed operator staff
    assert len(released) >= len(who)  # each release was audited
