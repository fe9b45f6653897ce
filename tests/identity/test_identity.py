"""Organizations, real-name users, roles, filing and login on both databases."""

from __future__ import annotations

import datetime as dt
import json
import time

import pyotp
import pytest
from sqlalchemy import select, text, update

from pdzone.audit import queries as aq
from pdzone.audit.events import os_actor
from pdzone.audit.models import AuditEvent
from pdzone.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from pdzone.identity import actions as ida
from pdzone.identity import auth
from pdzone.identity.models import LoginThrottle, User
from tests import factories as f


def events(rt, action):
    with rt.store.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_user_id_number_is_never_stored_in_plaintext(rt):
    idn = f.id_number(born="19850612")
    with rt.store.transaction() as s:
        o = f.org(s)
        u, _ = f.user(s, rt.vault, o, "wangwu", idn=idn)
    with rt.store.engine.connect() as c:
        dump = repr(c.execute(text("select * from users")).all()) + repr(
            c.execute(text("select * from audit_events")).all())
    assert idn not in dump and idn[6:14] not in dump
    with rt.store.sessions() as s:
        u = s.scalar(select(User).where(User.username == "wangwu"))
        assert u.id_number_masked == idn[:6] + "********" + idn[-4:]
        assert rt.vault.decrypt("id_number", u.id_number_enc) == idn


def test_same_id_number_cannot_register_twice_and_failure_leaves_nothing(rt):
    idn = f.id_number()
    with rt.store.transaction() as s:
        o = f.org(s)
        f.user(s, rt.vault, o, "first", idn=idn)
    before = len(events(rt, "identity.user.create"))
    with pytest.raises(Conflict) as e, rt.store.transaction() as s:
        f.user(s, rt.vault, s.merge(o), "second", idn=idn.lower())
    assert e.value.code == "id_number_taken"
    assert len(events(rt, "identity.user.create")) == before
    with rt.store.sessions() as s:
        assert s.scalar(select(User).where(User.username == "second")) is None


@pytest.mark.parametrize("field,value,code", [
    ("idn", "110105199003071230", "invalid_id_number"),
    ("password", "short", "weak_password"),
    ("password", "alllowercaseletters", "weak_password"),
    ("username", "Bad Name", "invalid_username"),
])
def test_bad_user_input_is_rejected_with_a_code(sqlite_rt, field, value, code):
    rt = sqlite_rt
    with pytest.raises(Invalid) as e, rt.store.transaction() as s:
        o = f.org(s)
        kw = {"idn": value} if field == "idn" else {"password": value} if field == "password" else {}
        f.user(s, rt.vault, o, value if field == "username" else None, **kw)
    assert e.value.code == code and e.value.zh and e.value.en


def test_bad_uscc_is_rejected(sqlite_rt):
    with pytest.raises(Invalid) as e, sqlite_rt.store.transaction() as s:
        ida.do_create_org(s, name="某公司", kind="partner", uscc="91110105000000001X", actor=os_actor())
    assert e.value.code == "invalid_uscc"


def test_separation_of_duties(rt):
    with rt.store.transaction() as s:
        o = f.org(s)
        u, secret = f.user(s, rt.vault, o, "admin1", role="system_admin")
        assert secret  # the admin roles enrol a second factor
        with pytest.raises(Forbidden) as e:
            ida.do_grant_role(s, rt.vault, u, "auditor", zone_code=None, actor=os_actor())
        assert e.value.code == "separation_of_duties"
        ida.do_grant_role(s, rt.vault, u, "expert", zone_code=None, actor=os_actor())  # others may combine


def test_a_security_admin_may_serve_several_zones_but_hold_no_other_admin_role(rt):
    with rt.store.transaction() as s:
        f.zone(s, "zone_a")
        f.zone(s, "zone_b")
        u, _ = f.user(s, rt.vault, f.org(s), "zoned_sec", role="security_admin", zone_code="zone_a")
        ida.do_grant_role(s, rt.vault, u, "security_admin", zone_code="zone_b", actor=os_actor())
        for role, zone in (("auditor", None), ("system_admin", "zone_a")):
            with pytest.raises(Forbidden) as e:
                ida.do_grant_role(s, rt.vault, u, role, zone_code=zone, actor=os_actor())
            assert e.value.code == "separation_of_duties"
        with pytest.raises(Conflict) as e:
            ida.do_grant_role(s, rt.vault, u, "security_admin", zone_code="zone_b", actor=os_actor())
        assert e.value.code == "role_exists"


def test_filing_state_machine_and_check(rt):
    with rt.store.transaction() as s:
        f.zone(s, "zone_a")
        o = f.org(s, kind="operator", zone_code="zone_a")
        u, _ = f.user(s, rt.vault, o, "staff1", role="operator_staff", zone_code="zone_a")
        uid = u.id
    with rt.store.sessions() as s:
        assert not ida.is_filed(s, uid, "zone_a")  # granting the role only asks for filing
    with rt.store.transaction() as s:
        u = s.get(User, uid)
        with pytest.raises(Invalid):
            ida.do_file(s, u, "zone_a", reason="  ", actor=os_actor())
        ida.do_file(s, u, "zone_a", reason="实名核验通过", actor=os_actor())
    with rt.store.sessions() as s:
        assert ida.is_filed(s, uid, "zone_a")
        assert not ida.is_filed(s, uid, "zone_b")
    with rt.store.transaction() as s:
        ida.do_revoke_filing(s, s.get(User, uid), "zone_a", reason="离职", actor=os_actor())
    with rt.store.sessions() as s:
        assert not ida.is_filed(s, uid, "zone_a")
    with pytest.raises(NotFound), rt.store.transaction() as s:
        ida.do_revoke_filing(s, s.get(User, uid), "zone_a", reason="again", actor=os_actor())
    actions = [e.action for e in events(rt, "identity.filing.request") + events(rt, "identity.filing.file")
               + events(rt, "identity.filing.revoke")]
    assert actions == ["identity.filing.request", "identity.filing.file", "identity.filing.revoke"]


def _login(rt, username, password=f.PASSWORD, otp=None):
    with rt.store.transaction() as s:
        return auth.check_login(s, rt.vault, rt.settings, username=username, password=password, otp=otp,
                                source_ip="127.0.0.1")


def test_login_lockout_after_repeated_failures(rt):
    with rt.store.transaction() as s:
        f.user(s, rt.vault, f.org(s), "locky")
    for _ in range(rt.settings.lockout_threshold):
        assert _login(rt, "locky", "Wrong-Password-1").error.code == "bad_credentials"
    res = _login(rt, "locky")  # the right password no longer helps, from this address
    assert res.error.code == "bad_credentials" and res.token is None
    denied = [e for e in events(rt, "identity.session.login") if e.outcome == "denied"]
    with rt.store.sessions() as s:  # repeated denials: one event per reason, with a count (docs/audit-log.md)
        counts = aq.denial_counts(s, [e.id for e in denied])
    assert sum(counts.get(e.id, 1) for e in denied) == rt.settings.lockout_threshold + 1
    reasons = [json.loads(e.details)["reason"] for e in denied]  # a window may end mid-test: then one more row
    assert set(reasons) == {"bad_credentials", "throttled"} and len(reasons) <= 4  # the log says why
    with rt.store.transaction() as s:  # the window passes
        s.execute(update(LoginThrottle).values(window_start=dt.datetime.now(dt.UTC) - dt.timedelta(
            seconds=rt.settings.lockout_window_s + 1)))
    assert _login(rt, "locky").token


def test_admin_login_needs_totp_and_a_code_is_used_once(rt):
    with rt.store.transaction() as s:
        _, secret = f.user(s, rt.vault, f.org(s), "auditor1", role="auditor")
    assert _login(rt, "auditor1").error.code == "mfa_required"
    code = pyotp.TOTP(secret).now()
    res = _login(rt, "auditor1", otp=code)
    assert res.token and res.error is None
    assert _login(rt, "auditor1", otp=code).error.code == "bad_otp"  # replay
    assert _login(rt, "nobody").error.code == "bad_credentials"


def test_session_token_resolves_and_idles_out(tmp_path, db_url):
    from tests.conftest import make_runtime

    rt = make_runtime(tmp_path, db_url, session_idle_timeout_s=60, token_cache_ttl_s=0)
    with rt.store.transaction() as s:
        f.user(s, rt.vault, f.org(s), "idler", role="expert")
    token = _login(rt, "idler").token
    p = auth.resolve_token(rt.store, rt.vault, rt.settings, token)
    assert p.username == "idler" and p.roles[0][0] == "expert"
    with rt.store.engine.begin() as c:
        c.execute(text("update access_tokens set last_used_at = :t"),
                  {"t": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=61)})
    with pytest.raises(Unauthorized) as e:
        auth.resolve_token(rt.store, rt.vault, rt.settings, token)
    assert e.value.code == "token_expired"
    with pytest.raises(Unauthorized):
        auth.resolve_token(rt.store, rt.vault, rt.settings, "pdz_" + "x" * 40)
    rt.store.dispose()


def test_resolving_a_token_does_not_write_on_every_request(sqlite_rt):
    rt = sqlite_rt
    rt.settings.token_cache_ttl_s = 0
    with rt.store.transaction() as s:
        f.user(s, rt.vault, f.org(s), "reader", role="expert")
    token = _login(rt, "reader").token
    with rt.store.engine.connect() as c:
        before = c.execute(text("select last_used_at from access_tokens")).scalar()
    time.sleep(0.01)
    for _ in range(3):
        auth.resolve_token(rt.store, rt.vault, rt.settings, token)
    with rt.store.engine.connect() as c:
        assert c.execute(text("select last_used_at from access_tokens")).scalar() == before
