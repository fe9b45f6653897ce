"""The sign-in throttle counts by the caller's address as parsed, not as written: behind a trusted proxy
(uvicorn's proxy headers, as `pdzone serve` runs), every spelling of one IPv4 address, its IPv4-mapped IPv6
form and any address of one IPv6 /64 are one key; text that is no address is no address (one shared key);
the operation log records the normalised address."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pdzone.audit.models import AuditEvent
from pdzone.web.app import create_app
from pdzone.web.demo import DEMO_PASSWORD
from tests.web.test_console import copy_of


@pytest.fixture
def client(seeded_dir: Path, tmp_path: Path):
    (tmp_path / "data").mkdir()
    rt = copy_of(seeded_dir, tmp_path / "data")
    app = ProxyHeadersMiddleware(create_app(rt, maintain_log=False, run_jobs=False), trusted_hosts="127.0.0.1")
    with TestClient(app, client=("127.0.0.1", 40000)) as c:
        c.rt = rt
        yield c
    rt.store.dispose()


WRONG = "wrong-password"


def login(client, forwarded: str, password: str = WRONG):
    return client.post("/api/v1/auth/token", json={"username": "operator", "password": password},
                       headers={"x-forwarded-for": forwarded})


def spend(client, forwarded: str) -> None:
    for _ in range(client.rt.settings.lockout_threshold):
        assert login(client, forwarded).status_code == 401


def test_spellings_of_one_ipv4_address_share_its_throttle(client):
    spend(client, "10.22.3.7")
    for spelling in ("10.22.3.7", "::ffff:10.22.3.7", "::FFFF:10.22.3.7"):
        r = login(client, spelling, DEMO_PASSWORD)  # the right password, refused: the pair is spent
        assert r.status_code == 401 and r.json()["code"] == "bad_credentials", spelling
    assert login(client, "10.22.3.8", DEMO_PASSWORD).status_code == 200  # another address is not spent
    with client.rt.store.sessions() as s:
        ips = set(s.scalars(select(AuditEvent.source_ip).where(AuditEvent.action == "identity.session.login")))
    assert "::ffff:10.22.3.7" not in ips and "10.22.3.7" in ips and "10.22.3.8" in ips


def test_text_that_is_no_address_is_one_key_and_not_recorded(client):
    spend(client, "not-an-ip")
    for text in ("010.22.3.7", "10.22.3.07", "10.77.0.25778", "not-an-ip"):  # each was its own fresh key
        assert login(client, text, DEMO_PASSWORD).status_code == 401, text
    with client.rt.store.sessions() as s:
        ips = set(s.scalars(select(AuditEvent.source_ip).where(AuditEvent.action == "identity.session.login")))
    assert not ips & {"not-an-ip", "010.22.3.7", "10.22.3.07", "10.77.0.25778"}


def test_ipv6_is_throttled_per_64_and_spellings_are_one(client):
    spend(client, "2001:db8::1")
    for other in ("2001:DB8:0::1", "2001:db8::dead:beef", "2001:db8:0:0:ffff::2"):  # the same /64
        assert login(client, other, DEMO_PASSWORD).status_code == 401, other
    assert login(client, "2001:db8:0:1::1", DEMO_PASSWORD).status_code == 200  # the next /64 is not spent
    with client.rt.store.sessions() as s:
        ips = set(s.scalars(select(AuditEvent.source_ip).where(AuditEvent.action == "identity.session.login")))
    assert "2001:db8::1" in ips and "2001:DB8:0::1" not in ips and "2001:db8::dead:beef" in ips


def test_the_ipv6_prefix_is_configurable(client):
    client.rt.settings.login_ipv6_prefix = 128
    spend(client, "2001:db8::1")
    assert login(client, "2001:db8::1", DEMO_PASSWORD).status_code == 401
    assert login(client, "2001:db8::2", DEMO_PASSWORD).status_code == 200
