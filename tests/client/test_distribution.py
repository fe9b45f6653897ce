"""The SDK ships as its own distribution: two dependencies, nothing of the server, a notebook that opens."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pdzone_client

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"


def test_it_depends_on_httpx_and_pandas_only_and_imports_nothing_of_the_server():
    meta = tomllib.loads((CLIENT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["name"] == "pdzone-client" and meta["requires-python"] == ">=3.11"
    assert sorted(meta["dependencies"]) == ["httpx>=0.27", "pandas>=2.0"]
    probe = ("import sys, pdzone_client; "
             "print(sorted(m for m in sys.modules if m == 'pdzone' or m.startswith('pdzone.')))")
    out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(CLIENT / "src")},
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    assert Path(pdzone_client.__file__).is_relative_to(CLIENT / "src")


def test_the_quickstart_notebook_is_nbformat_4_without_outputs_and_its_code_parses():
    nb = json.loads((CLIENT / "examples" / "quickstart.ipynb").read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["language"] == "python"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert len({c["id"] for c in nb["cells"]}) == len(nb["cells"])
    names = set(pdzone_client.__all__) | {"Client"}
    for c in code:
        tree = ast.parse("".join(c["source"]))
        for node in ast.walk(tree):  # the notebook uses only what the SDK exports
            if isinstance(node, ast.ImportFrom) and node.module == "pdzone_client":
                assert {a.name for a in node.names} <= names
