"""Check-then-act rules under 40 parallel requests, on SQLite and PostgreSQL.

Each rule is held by the database (a unique index, or a conditional UPDATE whose row count is
checked), not by a read followed by a write: three-way separation of the admin roles, one session
per TOTP code, at most `lockout_threshold` password checks per (account, address) and window, one
pending hold per query, exact budgets. On PostgreSQL the old code let 3 admin roles, 8 sessions from
one code and 110 password checks through; SQLite serialises writers, so there the tests guard the
same outcome against a future change of locking.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pyotp
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import func, select

from pdzone.audit.events import os_actor
from pdzone.audit.models import AuditEvent
from pdzone.errors import Conflict, Forbidden, PdzoneError
from pdzone.identity import actions as ida
from pdzone.identity import auth, passwords
from pdzone.identity.models import AccessToken, RoleAssignment, User
from pdzone.identity.roles import ADMIN_ROLES
from tests import factories as f
from tests.conftest import make_runtime

N = 40


@pytest.fixture
def cheap_hash(monkeypatch):
    """40 parallel argon2 checks at 64 MiB each would take 2.5 GiB: the same algorithm, cheaper parameters."""
    h = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
    monkeypatch.setattr(passwords, "_HASHER", h)
    monkeypatch.setattr(passwords, "_DUMMY", h.hash("pdzone-no-such-user"))


@pytest.fixture
def crt(tmp_path, db_url, cheap_hash):
    rt = make_runtime(tmp_path, db_url)
    yield rt
    rt.store.dispose()


def parallel(fn, n: int = N) -> list:
    """Run fn(i) for i < n on n threads released together; returns what each returned (or raised)."""
    start = threading.Barrier(n)

    def one(i):
        start.wait(timeout=60)
        try:
            return fn(i)
        except PdzoneError as e:
            return e

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def sign_in(rt, username, password=f.PASSWORD, otp=None, ip="192.0.2.1"):
    return auth.sign_in(rt.store, rt.vault, rt.settings, username=username, password=password, otp=otp,
                        source_ip=ip)


@pytest.mark.parametrize("zoned", [False, True], ids=["platform", "platform+zones"])
def test_parallel_admin_grants_leave_exactly_one_admin_role(crt, zoned):
    """40 grants of the three admin roles to one account at once (with `zoned`, half of them for one of
    four zones, where a security admin may hold its role for several): one admin role comes out."""
    rt = crt
    zones = ["za", "zb", "zc", "zd"]
    with rt.store.transaction() as s:
        for z in zones:
            f.zone(s, z)
        uid = f.user(s, rt.vault, f.org(s), "target")[0].id
    roles = sorted(ADMIN_ROLES)

    def grant(i):
        zone = zones[i // 2 % 4] if zoned and i % 2 else None
        with rt.store.transaction() as s:
            ida.do_grant_role(s, rt.vault, s.get(User, uid), roles[i % 3], zone_code=zone, actor=os_actor())
        return "granted"

    out = parallel(grant)
    refused = [o for o in out if o != "granted"]
    assert all(isinstance(o, Forbidden | Conflict) for o in refused), refused
    assert {o.code for o in refused} <= {"separation_of_duties", "role_exists"}
    with rt.store.sessions() as s:
        held = s.execute(select(RoleAssignment.role, RoleAssignment.zone_code)
                         .where(RoleAssignment.user_id == uid)).all()
        assert len({r for r, _ in held}) == 1 and held[0][0] in ADMIN_ROLES, held
        assert len(held) == len(set(held)) == out.count("granted")  # no duplicate rows either
        grants = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "identity.role.grant",
                                                                             AuditEvent.target_id == str(uid)))
        assert grants == len(held)  # the log says what happened: one event per grant that stands


def test_one_totp_code_gives_exactly_one_session(crt):
    rt = crt
    with rt.store.transaction() as s:
        u, secret = f.user(s, rt.vault, f.org(s), "auditor1", role="auditor")
        uid = u.id
    step = int(time.time() // 30)
    code = pyotp.TOTP(secret).at(step * 30)
    # from 40 addresses, so that the throttle lets every attempt reach the one-time code
    out = parallel(lambda i: sign_in(rt, "auditor1", otp=code, ip=f"198.51.100.{i + 1}"))
    assert sum(1 for r in out if r.token) == 1
    assert all(r.error.code == "bad_otp" for r in out if not r.token)
    with rt.store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AccessToken).where(AccessToken.user_id == uid)) == 1
    # the 39 replays were not password failures: the next code still signs in, from any of those addresses
    assert sign_in(rt, "auditor1", otp=pyotp.TOTP(secret).at((step + 1) * 30), ip="198.51.100.7").token


def test_parallel_wrong_passwords_are_checked_at_most_threshold_times(crt, monkeypatch):
    rt = crt
    with rt.store.transaction() as s:
        f.user(s, rt.vault, f.org(s, kind="operator"), "secadm", role="security_admin")
    real_checks = []
    verify = auth.verify_password

    def counting(stored, password):
        if stored is not None:
            real_checks.append(password)
        return verify(stored, password)

    monkeypatch.setattr(auth, "verify_password", counting)
    out = parallel(lambda i: sign_in(rt, "secadm", password=f"Wrong-Password-{i}", ip="203.0.113.9"))
    assert len(real_checks) == rt.settings.lockout_threshold == 5
    assert {r.error.code for r in out} == {"bad_credentials"} and not any(r.token for r in out)
    # locked from the attacker's address, even with the right password, without checking it ...
    before = len(real_checks)
    assert sign_in(rt, "secadm", otp="000000", ip="203.0.113.9").error.code == "bad_credentials"
    assert len(real_checks) == before
    # ... but the admin is not locked out from elsewhere
    assert sign_in(rt, "secadm", ip="192.0.2.77").error.code == "mfa_required"


def test_cleanroom_one_pending_hold_and_exact_budget_under_40_requests(tmp_path, db_url, cheap_hash):
    from pdzone.catalog import actions as cat
    from pdzone.cleanroom import service
    from pdzone.cleanroom.models import CleanroomQuery
    from pdzone.egress import grants as gr
    from pdzone.egress.models import DatasetBudget
    from tests.cleanroom.conftest import build_city, people_table

    rt = make_runtime(tmp_path, db_url)
    try:
        city = build_city(rt, tmp_path, table=people_table(n_people=60), epsilon="10")
        env = city.env()
        sql = 'SELECT "区", COUNT(*) AS n FROM pay4 GROUP BY "区"'
        # one level-4 query sent 40 times at once: one hold, and every caller is told its id
        out = parallel(lambda i: service.run(env, city.analyst, city.analyst.actor(), sql=sql, scenario="research"))
        assert not [o for o in out if isinstance(o, Exception)], out
        assert {o["status"] for o in out} == {"pending"} and len({o["query_id"] for o in out}) == 1
        with rt.store.sessions() as s:
            assert s.scalar(select(func.count()).select_from(CleanroomQuery)
                            .where(CleanroomQuery.status == "pending")) == 1
            holds = s.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "cleanroom.query.hold"))
            assert holds == 1

        # 40 charges of ε = 1 against a grant and a dataset cap of 10: exactly 10 pass, nothing overspent
        with rt.store.sessions() as s:
            grant_id = gr.active_grant(s, org_id=city.partner_id, scenario_code="research").id
            ds_id = cat.find_dataset(s, "pay3").id
        from pdzone.catalog.models import Dataset
        from pdzone.egress.models import Grant

        def charge(i):
            with rt.store.transaction() as s:
                gr.charge(s, s.get(Grant, grant_id), [s.get(Dataset, ds_id)], gr.to_nano(Decimal(1)), 0)
            return "charged"

        out = parallel(charge)
        assert out.count("charged") == 10
        assert {o.code for o in out if o != "charged"} == {"budget_exhausted"}
        with rt.store.sessions() as s:
            grant = s.get(Grant, grant_id)
            assert grant.epsilon_spent == grant.epsilon_total == gr.to_nano(Decimal(10))
            assert s.get(DatasetBudget, (city.partner_id, ds_id)).spent == gr.to_nano(Decimal(10))
    finally:
        rt.store.dispose()
