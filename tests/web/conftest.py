"""The web suites' shared seed: one small demo city per session (rows=200), copied per test.

test_console.py seeds its own, fuller one (its tests read the full demo datasets).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pdzone.db
from pdzone.web import demo
from tests.web.test_console import _runtime


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("seeded-small")
    rt = _runtime(d)
    pdzone.db.upgrade(rt.store)
    demo.seed(rt, rows=200)
    rt.store.dispose()
    return d
