"""Sign-in tells nothing and locks no one out: differential answers, throttling keys, replays,
self-filing, and a busy SQLite that answers 503 `busy` instead of 500.

The old sign-in answered 423 `account_locked` in 29 ms for real accounts only (an unknown name got
401 after a full password check): a user-enumeration oracle, and a way for anyone to lock any admin
out from anywhere.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import statistics
import time

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from pdzone.audit.events import os_actor
from pdzone.errors import Forbidden
from pdzone.identity import actions as ida
from pdzone.identity import auth
from pdzone.identity.models import User
from pdzone.web.app import create_app
from tests import factories as f
from tests.conftest import make_runtime

TOKEN = "/api/v1/auth/token"
WRONG = "Wrong-Password-9"


@pytest.fixture
def app_rt(tmp_path, db_url):
    rt = make_runtime(tmp_path, db_url)
    with rt.store.transaction() as s:
        o = f.org(s)
        f.user(s, rt.vault, o, "alice")
        f.user(s, rt.vault, o, "locked1")
    yield rt
    rt.store.dispose()


def _post(c: TestClient, username: str, password: str = WRONG):
    r = c.post(TOKEN, json={"username": username, "password": password})
    body = r.json()
    body.pop("request_id", None)
    return r.status_code, body, {k: v for k, v in r.headers.items() if k in ("retry-after", "www-authenticate")}


def test_unknown_locked_and_wrong_password_answer_identically(app_rt):
    rt = app_rt
    with TestClient(create_app(rt, maintain_log=False, run_jobs=False)) as c:
        for _ in range(rt.settings.lockout_threshold):
            c.post(TOKEN, json={"username": "locked1", "password": "Wrong-Password-0"})
        wrong = _post(c, "alice")
        unknown = _post(c, "no-such-user")
        locked = _post(c, "locked1")
        locked_right = _post(c, "locked1", f.PASSWORD)  # the right password, while throttled
        assert wrong == unknown == locked == locked_right
        status, body, _ = wrong
        assert status == 401 and body["code"] == "bad_credentials"
        assert "用户名或密码错误" in body["message_zh"]
        # the lock holds only for this address: elsewhere locked1 signs in
        assert auth.sign_in(rt.store, rt.vault, rt.settings, username="locked1", password=f.PASSWORD, otp=None,
                            source_ip="192.0.2.200").token


def test_unknown_locked_and_wrong_password_take_the_same_time(sqlite_rt):
    """A real argon2 check runs in every branch: medians within a factor of 2 of each other."""
    rt = sqlite_rt
    with rt.store.transaction() as s:
        o = f.org(s)
        f.user(s, rt.vault, o, "alice")
        f.user(s, rt.vault, o, "locked1")
    for _ in range(rt.settings.lockout_threshold):
        auth.sign_in(rt.store, rt.vault, rt.settings, username="locked1", password="x", otp=None, source_ip="a")

    def timed(username):
        t0 = time.perf_counter()
        res = auth.sign_in(rt.store, rt.vault, rt.settings, username=username, password="Wrong-Password-1",
                           otp=None, source_ip="a" if username == "locked1" else username)
        assert res.error.code == "bad_credentials"
        return time.perf_counter() - t0

    samples = {u: [] for u in ("alice", "no-such-user", "locked1")}
    for _ in range(4):  # interleaved, so that load on the machine hits all three alike
        for u in samples:
            samples[u].append(timed(u))
    med = {u: statistics.median(v) for u, v in samples.items()}
    for u in ("no-such-user", "locked1"):
        assert 0.5 <= med[u] / med["alice"] <= 2, med


def test_a_stranger_address_is_throttled_across_accounts(tmp_path):
    rt = make_runtime(tmp_path, f"sqlite:///{tmp_path}/p.db", login_address_threshold=8)
    with rt.store.transaction() as s:
        o = f.org(s)
        for n in ("usr1", "usr2", "usr3"):
            f.user(s, rt.vault, o, n)

    def attempt(username, password=WRONG, ip="203.0.113.5"):
        return auth.sign_in(rt.store, rt.vault, rt.settings, username=username, password=password, otp=None,
                            source_ip=ip)

    for i in range(8):  # spraying: 8 guesses over several names and non-names, below each pair's limit
        assert attempt(["usr1", "usr2", "ghost", "nobody"][i % 4]).error.code == "bad_credentials"
    assert attempt("usr3", f.PASSWORD).error.code == "bad_credentials"  # the address is spent
    assert attempt("usr3", f.PASSWORD, ip="198.51.100.1").token      # everyone else is not
    rt.store.dispose()


def test_success_gives_the_address_back(tmp_path):
    """A shared address (an office behind NAT) is not spent by its users' successful sign-ins."""
    rt = make_runtime(tmp_path, f"sqlite:///{tmp_path}/p.db", login_address_threshold=3)
    with rt.store.transaction() as s:
        f.user(s, rt.vault, f.org(s), "usr1")
    for _ in range(10):
        assert auth.sign_in(rt.store, rt.vault, rt.settings, username="usr1", password=f.PASSWORD, otp=None,
                            source_ip="10.1.1.1").token
    rt.store.dispose()


def test_totp_replays_are_not_counted_as_failures(rt):
    with rt.store.transaction() as s:
        _, secret = f.user(s, rt.vault, f.org(s), "auditor1", role="auditor")
    step = int(time.time() // 30)
    code = pyotp.TOTP(secret).at(step * 30)

    def go(otp):
        return auth.sign_in(rt.store, rt.vault, rt.settings, username="auditor1", password=f.PASSWORD, otp=otp,
                            source_ip="192.0.2.8")

    assert go(code).token
    for _ in range(rt.settings.lockout_threshold * 2):
        assert go(code).error.code == "bad_otp"  # replayed: refused, not counted
    assert go(pyotp.TOTP(secret).at((step + 1) * 30)).token  # not locked


def test_wrong_codes_do_count(rt):
    with rt.store.transaction() as s:
        _, secret = f.user(s, rt.vault, f.org(s), "auditor2", role="auditor")
    valid = {pyotp.TOTP(secret).at(s * 30) for s in range(int(time.time() // 30) - 1, int(time.time() // 30) + 3)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    for _ in range(rt.settings.lockout_threshold):
        assert auth.sign_in(rt.store, rt.vault, rt.settings, username="auditor2", password=f.PASSWORD, otp=wrong,
                            source_ip="192.0.2.9").error.code == "bad_otp"
    res = auth.sign_in(rt.store, rt.vault, rt.settings, username="auditor2", password=f.PASSWORD,
                       otp=pyotp.TOTP(secret).now(), source_ip="192.0.2.9")
    assert res.error.code == "bad_credentials"  # code guessing is throttled like password guessing


def test_security_admin_cannot_file_itself(rt):
    with rt.store.transaction() as s:
        f.zone(s, "zone_a")
        sec, _ = f.user(s, rt.vault, f.org(s, kind="operator", zone_code="zone_a"), "sec1", role="security_admin")
        ida.do_grant_role(s, rt.vault, sec, "operator_staff", zone_code="zone_a", actor=os_actor())
        sec_id = sec.id
    with rt.store.transaction() as s:
        me = s.get(User, sec_id)
        actor = auth.Actor(name="user:sec1", user_id=sec_id, org_id=me.org_id)
        with pytest.raises(Forbidden) as e:
            ida.do_file(s, me, "zone_a", reason="本人", actor=actor)
    assert e.value.code == "self_filing"
    with rt.store.sessions() as s:
        assert not ida.is_filed(s, sec_id, "zone_a")


def _hold_write_lock(path: str) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    con.execute("UPDATE users SET mobile = mobile")
    return con


def test_token_touch_skips_a_locked_sqlite_and_never_fails_the_request(tmp_path):
    path = f"{tmp_path}/p.db"
    rt = make_runtime(tmp_path, f"sqlite:///{path}", token_cache_ttl_s=0)
    with rt.store.transaction() as s:
        f.user(s, rt.vault, f.org(s), "reader", role="expert")
    token = auth.sign_in(rt.store, rt.vault, rt.settings, username="reader", password=f.PASSWORD, otp=None).token
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=2)
    with rt.store.engine.begin() as c:
        c.execute(text("update access_tokens set last_used_at = :t"), {"t": old})
    con = _hold_write_lock(path)
    try:
        t0 = time.perf_counter()
        p = auth.resolve_token(rt.store, rt.vault, rt.settings, token)  # used to wait 10 s, then raise
        assert p.username == "reader" and time.perf_counter() - t0 < 2
    finally:
        con.rollback()
        con.close()
    auth.resolve_token(rt.store, rt.vault, rt.settings, token)  # the next resolve records the use
    with rt.store.engine.connect() as c:
        assert c.execute(text("select last_used_at from access_tokens")).scalar() > str(old)
    rt.store.dispose()


def test_a_busy_sqlite_answers_503_busy_with_retry_after(tmp_path):
    path = f"{tmp_path}/p.db"
    rt = make_runtime(tmp_path, f"sqlite:///{path}")
    with rt.store.transaction() as s:
        f.user(s, rt.vault, f.org(s), "alice")
    event.listen(rt.store.engine, "connect", lambda dbapi, _r: dbapi.execute("PRAGMA busy_timeout=200"))
    rt.store.engine.dispose()  # new connections wait 200 ms for the lock instead of 10 s
    with TestClient(create_app(rt, maintain_log=False, run_jobs=False), raise_server_exceptions=False) as c:
        con = _hold_write_lock(path)
        try:
            r = c.post(TOKEN, json={"username": "alice", "password": f.PASSWORD})
        finally:
            con.rollback()
            con.close()
        assert r.status_code == 503 and r.json()["code"] == "busy" and r.headers["retry-after"] == "1"
        assert c.post(TOKEN, json={"username": "alice", "password": f.PASSWORD}).status_code == 200
    rt.store.dispose()
