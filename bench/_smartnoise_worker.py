"""SmartNoise SQL side of bench/smartnoise_compare.py. Runs in SmartNoise's own virtualenv.

It imports only SmartNoise SQL (snsql), pandas and the standard library — never pdzone — and
talks JSON lines: the first line on stdin sets it up, every later line asks for one thing, and each
answer is one line on stdout (anything the libraries print goes to stderr).

    {"csv", "metadata", "epsilon", "delta"}  → {"versions", "rows_in", "load_s", "build_s"}
    {"cost": sql}    → {"epsilon", "delta", "mechanisms": [[ε, δ, scale], ...]}   (odometer, no run)
    {"run": sql}     → {"seconds", "columns", "rows"}                             (reader.execute)

`load_s` is pandas reading the CSV; `build_s` is `snsql.from_connection` (its pandas reader copies
the frame into an in-memory SQLite database, where every query then runs).

    /tmp/sn-venv/bin/python bench/_smartnoise_worker.py < requests.jsonl
"""

from __future__ import annotations

import json
import sys
import time
from importlib import metadata as im


def main() -> None:
    out, sys.stdout = sys.stdout, sys.stderr

    def reply(obj) -> None:
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()

    import pandas as pd
    import snsql
    from snsql import Privacy

    job = json.loads(sys.stdin.readline())
    t = time.perf_counter()
    df = pd.read_csv(job["csv"], dtype={"pid": str, "age_band": str, "amount": float})
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    reader = snsql.from_connection(df, privacy=Privacy(epsilon=float(job["epsilon"]), delta=float(job["delta"])),
                                   metadata=job["metadata"])
    build_s = time.perf_counter() - t
    reply({"versions": {p: im.version(p) for p in ("smartnoise-sql", "pandas", "opendp")},
           "rows_in": len(df), "load_s": load_s, "build_s": build_s})
    for line in sys.stdin:
        req = json.loads(line)
        if "cost" in req:
            eps, delta = reader.get_privacy_cost(req["cost"])
            reader._refresh_options()
            subquery, _ = reader._rewrite(req["cost"])
            mechs = [[float(m.epsilon), float(m.delta), float(m.scale)] for m in reader._get_mechanisms(subquery) if m]
            reply({"epsilon": float(eps), "delta": float(delta), "mechanisms": mechs})
        else:
            t = time.perf_counter()
            rows = reader.execute(req["run"])
            took = time.perf_counter() - t
            reply({"seconds": took, "columns": list(rows[0]), "rows": [list(r) for r in rows[1:]]})


if __name__ == "__main__":
    main()
