"""Browser fixtures: the real app under uvicorn on a freshly seeded demo database, and Debian's chromium
driven by Playwright (never a downloaded browser: `playwright install` is not used)."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
import uvicorn

import pdzone.db
from pdzone.config import Settings
from pdzone.web import demo
from pdzone.web.app import create_app
from pdzone.web.runtime import Runtime

CHROMIUM = Path("/usr/bin/chromium")
# Screenshots for a person to look at (console-*.png, catalog-*.png); the system temp dir unless told otherwise.
SHOTS = Path(os.environ.get("PDZONE_SCREENSHOT_DIR") or tempfile.gettempdir())
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"chromium not installed: browser tests SKIPPED (apt-get install chromium; expected {CHROMIUM})"
        if os.environ.get("PDZONE_REQUIRE_ALL") == "1":
            pytest.fail(f"{reason} (PDZONE_REQUIRE_ALL=1)")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The app on 127.0.0.1 and a free port, with the background log maintenance running."""
    d = tmp_path_factory.mktemp("browser-data")
    rt = Runtime.from_settings(Settings(data_dir=d, database_url=f"sqlite:///{d}/t.db"))
    pdzone.db.upgrade(rt.store)
    demo.seed(rt)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning",
                                           ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, name="pdzone-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the console server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    rt.store.dispose()


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.problems = problems
    yield pg
    context.close()
