"""The REST API: login, tokens, permissions, errors, the operation log's routes."""

from __future__ import annotations

import pyotp
import pytest
from fastapi.testclient import TestClient

from pdzone.audit import merkle
from pdzone.audit.log import hasher
from pdzone.web.app import create_app
from pdzone.web.demo import DEMO_PASSWORD, demo_totp_secret, seed


@pytest.fixture
def client(rt):
    seed(rt, datasets=False)
    with TestClient(create_app(rt, maintain_log=False)) as c:
        c.rt = rt
        yield c


def token(client, username):
    """Log in once per user and test (a TOTP code is accepted only once per 30 s step)."""
    cache = client.__dict__.setdefault("tokens", {})
    if username not in cache:
        body = {"username": username, "password": DEMO_PASSWORD}
        if username in ("sysadmin", "secadmin", "auditor"):
            body["otp"] = pyotp.TOTP(demo_totp_secret(username)).now()
        r = client.post("/api/v1/auth/token", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["token_type"] == "bearer"
        cache[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return cache[username]


def test_health_and_openapi(client):
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/api/v1/auth/token" in spec["paths"] and "/api/v1/audit/events/{seq}/proof" in spec["paths"]


def test_wrong_password_and_missing_second_factor_are_401_with_codes(client):
    r = client.post("/api/v1/auth/token", json={"username": "analyst", "password": "nope"})
    assert r.status_code == 401 and r.json()["code"] == "bad_credentials"
    assert r.json()["message"] == "用户名或密码错误，或尝试过于频繁，请稍后再试"
    r = client.post("/api/v1/auth/token", json={"username": "auditor", "password": DEMO_PASSWORD},
                    headers={"Accept-Language": "en"})
    assert r.status_code == 401 and r.json()["code"] == "mfa_required" and "one-time" in r.json()["message"]


def test_bad_input_is_422_json_not_a_trace(client):
    r = client.post("/api/v1/auth/token", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    h = token(client, "sysadmin")
    r = client.post("/api/v1/orgs", json={"name": "坏代码公司", "kind": "partner", "uscc": "123"}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "invalid_uscc" and "Traceback" not in r.text
    r = client.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_system_admin_cannot_read_the_log_and_the_denial_is_recorded(client):
    h = token(client, "sysadmin")
    r = client.get("/api/v1/audit/events?limit=5", headers=h)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    a = token(client, "auditor")
    evs = client.get("/api/v1/audit/events?limit=50&outcome=denied", headers=a).json()["events"]
    assert any(e["actor"] == "user:sysadmin" and e["action"] == "audit.log.read" for e in evs)


def test_auditor_reads_and_reviews_events(client):
    a = token(client, "auditor")
    evs = client.get("/api/v1/audit/events?limit=3", headers=a).json()["events"]
    assert len(evs) == 3 and evs[0]["id"] > evs[1]["id"]
    assert all("110" not in str(e["details"].get("id_number", ""))[6:14] for e in evs)
    r = client.post(f"/api/v1/audit/events/{evs[-1]['id']}/reviews", json={"verdict": "ok", "comment": "已核实"},
                    headers=a)
    assert r.status_code == 201
    again = client.get("/api/v1/audit/events?limit=50&action=audit.event.review", headers=a).json()["events"]
    assert again and again[0]["details"]["comment"] == "已核实"


def test_zone_supervisor_sees_only_their_zone(client):
    s = token(client, "transport_supervisor")
    evs = client.get("/api/v1/audit/events?limit=1000", headers=s).json()["events"]
    assert evs and {e["zone"] for e in evs} == {"bj_transport"}
    bundle = client.get("/api/v1/audit/export", headers=s).json()
    full = [e for e in bundle["events"] if "action" in e]
    assert full and all(e["zone"] == "bj_transport" for e in full)


def test_checkpoint_and_proofs_over_the_api(client):
    a = token(client, "auditor")
    cp = client.post("/api/v1/audit/checkpoints", headers=a).json()
    n = cp["tree_size"]
    assert client.get("/api/v1/audit/checkpoint", headers=a).json()["root_hash"] == cp["root_hash"]
    p = client.get(f"/api/v1/audit/events/0/proof?tree_size={n}", headers=a).json()
    h = hasher(client.rt.log_suite)
    assert merkle.verify_inclusion(h, 0, n, bytes.fromhex(p["leaf_hash"]), [bytes.fromhex(x) for x in p["proof"]],
                                   bytes.fromhex(cp["root_hash"]))
    c = client.get(f"/api/v1/audit/consistency?first=3&second={n}", headers=a).json()
    assert c["second_root"] == cp["root_hash"]
    r = client.get(f"/api/v1/audit/events/{n + 5}/proof?tree_size={n}", headers=a)
    assert r.status_code == 422 and r.json()["code"] in ("bad_seq", "bad_tree_size")


def test_supervisor_countersigns_a_checkpoint_with_their_own_key(client):
    from pdzone.crypto import get_suite

    s = token(client, "supervisor")
    cp = client.post("/api/v1/audit/checkpoints", headers=token(client, "auditor")).json()
    key = get_suite("gm").generate_private_key()
    r = client.post("/api/v1/audit/witness-keys", json={"public_pem": key.public().pem.decode()}, headers=s)
    assert r.status_code == 201
    key_id = r.json()["key_id"]
    bad = client.post(f"/api/v1/audit/checkpoints/{cp['id']}/cosignatures",
                      json={"key_id": key_id, "signature": key.sign(b"something else").hex()}, headers=s)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_signature"
    ok = client.post(f"/api/v1/audit/checkpoints/{cp['id']}/cosignatures",
                     json={"key_id": key_id, "signature": key.sign(cp["body"].encode()).hex()}, headers=s)
    assert ok.status_code == 201
    listed = client.get("/api/v1/audit/checkpoints", headers=s).json()
    assert any(x["key_id"] == key_id for c in listed if c["id"] == cp["id"] for x in c["cosignatures"])


def test_api_tokens_are_scoped_and_expire(client):
    a = token(client, "auditor")
    r = client.post("/api/v1/auth/api-tokens", json={"name": "jupyter", "scopes": ["audit.log.read"], "days": 7},
                    headers=a)
    assert r.status_code == 201
    t = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/v1/audit/events?limit=1", headers=t).status_code == 200
    r2 = client.post("/api/v1/audit/events/1/reviews", json={"verdict": "ok", "comment": "x"}, headers=t)
    assert r2.status_code == 403  # review is not in the token's scope
    beyond = client.post("/api/v1/auth/api-tokens", json={"scopes": ["identity.org.manage"]}, headers=a)
    assert beyond.status_code == 403 and beyond.json()["code"] == "scope_exceeds_user"
    assert client.post("/api/v1/auth/api-tokens", json={"scopes": ["nope"]}, headers=a).status_code == 422
    client.delete(f"/api/v1/auth/api-tokens/{r.json()['id']}", headers=a)
    assert client.get("/api/v1/audit/events?limit=1", headers=t).status_code == 401


def test_security_admin_files_staff_and_system_admin_cannot(client):
    body = {"zone": "bj_transport", "decision": "revoke", "reason": "调岗"}
    r = client.post("/api/v1/users/transport_operator/filings", json=body, headers=token(client, "sysadmin"))
    assert r.status_code == 403
    sec = token(client, "secadmin")
    r = client.post("/api/v1/users/transport_operator/filings", json=body, headers=sec)
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    chk = client.get("/api/v1/users/transport_operator/filed?zone=bj_transport", headers=sec).json()
    assert chk["filed"] is False


def test_user_listing_masks_identifiers(client):
    users = client.get("/api/v1/users", headers=token(client, "secadmin")).json()
    assert users and all("********" in u["id_number"] and "****" in u["mobile"] for u in users)


def test_ids_beyond_bigint_are_refused_as_input(client):
    a = token(client, "auditor")
    huge = 2**63
    for r in (client.get(f"/api/v1/audit/events/{huge}/proof", headers=a),
              client.post(f"/api/v1/audit/events/{huge}/reviews", json={"verdict": "ok", "comment": "x"}, headers=a),
              client.get(f"/api/v1/audit/events?before_id={huge}", headers=a),
              client.delete(f"/api/v1/auth/api-tokens/{huge}", headers=a)):
        assert r.status_code == 422 and r.json()["code"] == "invalid_request"
