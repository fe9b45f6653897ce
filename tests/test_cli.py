"""The `pdzone` command as an operator types it, on both databases."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys

import pyotp
from sqlalchemy import text

from pdzone.db import Store
from tests import factories as f


def run(env, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "pdzone", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120)


def cli_env(tmp_path, db_url):
    return {**os.environ, "PDZONE_DATABASE_URL": db_url, "PDZONE_DATA_DIR": str(tmp_path / "data"),
            "PDZONE_KEYSTORE_PASSPHRASE": "cli-test"}


def test_operator_sets_up_a_zone_and_the_log_verifies(tmp_path, db_url):
    env = cli_env(tmp_path, db_url)
    assert run(env, "db", "upgrade").returncode == 0
    sup = f.uscc_code()
    r = run(env, "org", "add", "--name", "北京市交通委员会", "--kind", "supervisor", "--uscc", sup, "--json")
    assert r.returncode == 0, r.stderr
    assert run(env, "zone", "add", "--code", "transport", "--name", "交通专区", "--type", "domain",
               "--supervisor", sup).returncode == 0
    assert run(env, "org", "add", "--name", "运营公司", "--kind", "operator", "--uscc", f.uscc_code(),
               "--zone", "transport").returncode == 0
    r = run(env, "user", "add", "--username", "sec1", "--real-name", "李四", "--id-number", f.id_number(),
            "--mobile", "13912345678", "--org", "运营公司", "--role", "security_admin", "--password-stdin", "--json",
            stdin="Correct-Horse-42\n")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert pyotp.TOTP(out["totp_secret"]).now().isdigit() and "********" in out["id_number"]
    r = run(env, "user", "add", "--username", "staff1", "--real-name", "王五", "--id-number", f.id_number(),
            "--mobile", "13912345679", "--org", "运营公司", "--role", "operator_staff", "--zone", "transport",
            "--password-stdin", "--json", stdin="Correct-Horse-42\n")
    assert json.loads(r.stdout)["totp_secret"] is None
    r = run(env, "user", "file", "staff1", "--reason", "实名核验通过", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["status"] == "filed"
    orgs = json.loads(run(env, "org", "list", "--json").stdout)
    assert {o["name"] for o in orgs} == {"北京市交通委员会", "运营公司"}

    store = Store(db_url)
    with store.engine.connect() as c:
        actors = {r[0] for r in c.execute(text("select actor from audit_events"))}
        assert actors == {f"os:{getpass.getuser()}@{socket.gethostname()}"}
        assert c.execute(text("select count(*) from audit_events where seq is null")).scalar() == 0

    cp = tmp_path / "held.json"
    assert run(env, "audit", "checkpoint", "-o", str(cp)).returncode == 0
    assert run(env, "audit", "verify").returncode == 0
    assert run(env, "audit", "verify", "--checkpoint", str(cp)).returncode == 0
    bundle = tmp_path / "bundle.json"
    assert run(env, "audit", "export", "-o", str(bundle)).returncode == 0
    proof = json.loads(run(env, "audit", "proof", "2").stdout)
    assert proof["seq"] == 2 and proof["proof"]

    with store.engine.begin() as c:
        c.execute(text("update audit_events set details = '{}' where seq = 3"))
    r = run(env, "audit", "verify", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["first_bad_seq"] == 3
    # the bundle taken before the edit still verifies on its own, with no database at all
    offline = {**env, "PDZONE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    assert run(offline, "audit", "verify", "--bundle", str(bundle)).returncode == 0
    assert run(offline, "audit", "verify").returncode == 2
    store.dispose()


def test_bad_input_gets_a_clear_error_and_nothing_is_written(tmp_path, db_url):
    env = cli_env(tmp_path, db_url)
    run(env, "db", "upgrade")
    r = run(env, "org", "add", "--name", "某公司", "--kind", "partner", "--uscc", "91110105000000001X")
    assert r.returncode == 1 and "invalid_uscc" in r.stderr and "Traceback" not in r.stderr
    r = run(env, "zone", "add", "--code", "Bad Code", "--name", "x", "--type", "domain")
    assert r.returncode == 1 and "invalid_zone_code" in r.stderr
    assert json.loads(run(env, "org", "list", "--json").stdout) == []
    assert run(env, "audit", "verify", "--checkpoint", str(tmp_path / "missing.json")).returncode == 2
