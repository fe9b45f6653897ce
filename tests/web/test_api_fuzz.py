"""OpenAPI fuzzing (schemathesis): no input, however odd, gets a 500 or a stack trace."""

from __future__ import annotations

import pyotp
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

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


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, fuzz_app):
    # Alternate callers so permission checks and the routes behind them both get exercised.
    user = ("auditor", "secadmin", "sysadmin", "supervisor")[sum(map(ord, case.path)) % 4]
    if case.path.endswith("/logout"):
        user = "supervisor"  # keep the other tokens alive
    response = case.call(headers={"Authorization": f"Bearer {fuzz_app.state.fuzz_tokens[user]}"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert body["code"] and body["message"] and "Traceback" not in response.text
