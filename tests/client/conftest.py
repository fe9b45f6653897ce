"""The real server for the client SDK's end-to-end tests: the app under uvicorn on a free 127.0.0.1
port in a background thread, and the two steps a partner takes to get a token (sign in, issue one)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from pdzone.web.app import create_app
from pdzone.web.runtime import Runtime
from tests.conftest import make_runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(rt: Runtime) -> Iterator[str]:
    """Serve `rt` over real HTTP until the block ends; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(rt, maintain_log=False), host="127.0.0.1", port=port,
                                           log_level="warning", ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, name="pdzone-sdk-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the pdzone server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign_in(base_url: str, username: str, password: str) -> str:
    """A console session token, as `POST /api/v1/auth/token` gives it."""
    r = httpx.post(f"{base_url}/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def issue_api_token(base_url: str, session_token: str, scopes: list[str], zone: str | None = None) -> str:
    """A scoped API token for the SDK, issued from a session as a partner does in the console."""
    r = httpx.post(f"{base_url}/api/v1/auth/api-tokens", json={"name": "sdk-test", "scopes": scopes, "zone": zone},
                   headers={"Authorization": f"Bearer {session_token}"})
    assert r.status_code == 201, r.text
    return r.json()["token"]


@pytest.fixture
def live_rt(tmp_path):
    """A fresh runtime on SQLite (the SDK speaks HTTP; the store suite covers PostgreSQL)."""
    rt = make_runtime(tmp_path, f"sqlite:///{tmp_path}/pdzone.db")
    yield rt
    rt.store.dispose()
