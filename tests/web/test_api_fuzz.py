"""OpenAPI fuzzing (schemathesis): no input, however odd, gets a 500 or a stack trace.

Derandomized, so the suite stays deterministic; raise max_examples locally to search wider.
"""

from __future__ import annotations

import pyotp
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from pdzone.web.app import create_app
from pdzone.web.demo import DEMO_PASSWORD, demo_totp_secret, seed
from tests.conftest import make_runtime


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    rt = make_runtime(d, f"sqlite:///{d}/fuzz.db")
    seed(rt)
    app = create_app(rt, maintain_log=False)
    with TestClient(app) as c:
        tokens = {}
        for user in ("auditor", "secadmin", "sysadmin", "supervisor"):
            body = {"username": user, "password": DEMO_PASSWORD}
            if user != "supervisor":
                body["otp"] = pyotp.TOTP(demo_totp_secret(user)).now()
            tokens[user] = c.post("/api/v1/auth/token", json=body).json()["access_token"]
    app.state.fuzz_tokens = tokens
    yield app
    rt.store.dispose()


def _bound(check, headers):
    def run(case):
        check(case, headers)
    return run


def test_no_server_errors(fuzz_app):
    """Every operation, with schema-generated (often odd) input, as several callers."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    users = ("auditor", "secadmin", "sysadmin", "supervisor")
    checked = 0
    for result in schema.get_all_operations():
        op = result.ok()
        user = "supervisor" if op.path.endswith("/logout") else users[sum(map(ord, op.path)) % 4]
        headers = {"Authorization": f"Bearer {fuzz_app.state.fuzz_tokens[user]}"}

        def check(case, headers):
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400 and "application/json" in str(response.headers.get("content-type")):
                body = response.json()
                assert body["code"] and body["message"] and "Traceback" not in response.text

        settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                 derandomize=True)(
            given(case=op.as_strategy())(_bound(check, headers)))()
        checked += 1
    assert checked >= 20  # every route of the API took part
