"""Budget safety: 200 concurrent queries against a budget that allows exactly 100, over HTTP.

Target (issue): at most 100 answered, on SQLite and on PostgreSQL, with two server workers. The
grant holds ε = 10 (and the partner's cap on the dataset is 10); every query spends the grant's
default ε = 0.1 and is distinct (its WHERE bound differs), so no stored answer serves it. The server
is `uvicorn --factory pdzone.web.app:create_app --workers 2` (settings from PDZONE_* variables, as
`pdzone serve` reads them); the 200 requests go out at once over 200 connections. Afterwards the
database is read directly: spent <= total and spent == answered x 0.1, exactly (nano-ε integers),
on the grant and on the dataset account, with one release event and one stored answer per answer.
The queries arrive before the stored contribution-bounded copy exists, so both workers race to
build it as well.

    python bench/cleanroom_budget.py
    PDZONE_BENCH_DBS=sqlite python bench/cleanroom_budget.py
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow as pa
from _cleanroom import Spec, build
from _common import kinds, runtime
from sqlalchemy import func, select

from pdzone.audit.models import AuditEvent
from pdzone.catalog import actions as cat
from pdzone.egress import grants as gr
from pdzone.egress.models import DatasetBudget, StoredAnswer

QUERIES = int(os.environ.get("PDZONE_BENCH_QUERIES", "200"))
TOTAL, EACH = "10", "0.1"
DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区"]
COLUMNS = {"人员编号": ("join_key", None, None), "区": ("dimension", None, DISTRICTS),
           "金额": ("measure", (0.0, 100.0), None), "年龄": ("measure", (0.0, 120.0), None)}


def table(n_people: int = 2000, seed: int = 5) -> pa.Table:
    rng = random.Random(seed)
    pid, dist, amount, age = [], [], [], []
    for p in range(n_people):
        for _ in range(1 + p % 5):
            pid.append(f"P{p:06d}")
            dist.append(DISTRICTS[p % 4])
            amount.append(round(rng.uniform(0, 100), 2))
            age.append(18 + p % 70)
    return pa.table({"人员编号": pid, "区": dist, "金额": amount, "年龄": age})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data_dir: Path, db_url: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PDZONE_DATA_DIR": str(data_dir), "PDZONE_DATABASE_URL": db_url,
           "PDZONE_KEYSTORE_PASSPHRASE": "bench"}
    with log.open("wb") as err:
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "pdzone.web.app:create_app",
                                   "--workers", "2", "--host", "127.0.0.1", "--port", str(port), "--log-level",
                                   "warning"], env=env, stdout=subprocess.DEVNULL, stderr=err)
    up = 0
    for _ in range(600):
        with contextlib.suppress(httpx.HTTPError):
            up += httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        if up >= 20:
            break
        if server.poll() is not None:
            raise RuntimeError(log.read_text(errors="replace")[-2000:])
        time.sleep(0.1)
    return server


def workers(server: subprocess.Popen) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(server.pid), "-o", "pid=,args="], capture_output=True, text=True)
    return [int(line.split()[0]) for line in out.stdout.splitlines() if "spawn_main" in line]


async def fire(port: int, token: str) -> tuple[list[tuple[int, str]], float]:
    url = f"http://127.0.0.1:{port}/api/v1/cleanroom/queries"
    limits = httpx.Limits(max_connections=QUERIES, max_keepalive_connections=QUERIES)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=httpx.Timeout(600)) as c:
        async def one(i: int) -> tuple[int, str]:
            sql = f'SELECT 区, COUNT(*) AS n, AVG(金额) AS m FROM pay WHERE 金额 >= {i / 4} GROUP BY 区'
            r = await c.post(url, json={"sql": sql, "scenario": "bench"})
            code = r.json().get("code", "") if r.status_code != 200 else ""
            return r.status_code, code
        t = time.perf_counter()
        out = await asyncio.gather(*[one(i) for i in range(QUERIES)])
        return out, time.perf_counter() - t


def bench(kind: str) -> bool:
    with tempfile.TemporaryDirectory() as d, runtime(kind) as rt:
        city = build(rt, Path(d), {"pay": Spec(table(), 3, "人员编号", COLUMNS, 5)}, epsilon=TOTAL,
                     default_epsilon=EACH, max_epsilon="1")
        url = rt.store.url
        rt.store.dispose()
        port = free_port()
        log = Path(d) / "server.log"
        server = serve(rt.settings.data_dir, url, port, log)
        try:
            pids = workers(server)
            results, wall = asyncio.run(fire(port, city.token))
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        tally = collections.Counter(f"{s} {c}".strip() for s, c in results)
        errors = log.read_text(errors="replace").strip()
        if errors:
            lines = errors.splitlines()
            print(f"server log ({len(lines)} lines), last lines:\n" + "\n".join(lines[-15:]))
            frames = collections.Counter(x.strip() for x in lines if x.strip().startswith("File") and "/pdzone/" in x)
            print("where (pdzone frames):\n" + "\n".join(f"  {n} x {f}" for f, n in frames.most_common(6)))
        answered = tally.get("200", 0)
        with rt.store.sessions() as s:
            grant = gr.active_grant(s, org_id=city.partner_id, scenario_code="bench")
            ds = cat.find_dataset(s, "pay")
            acct = s.get(DatasetBudget, (city.partner_id, ds.id))
            stored = s.scalar(select(func.count()).select_from(StoredAnswer).where(StoredAnswer.grant_id == grant.id))
            released = s.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "egress.query.release", AuditEvent.target_id == str(grant.id)))
            spent, total, acct_spent = grant.epsilon_spent, grant.epsilon_total, acct.spent if acct else 0
        expect = answered * gr.to_nano(gr.parse_epsilon(EACH))
        ok = (answered <= 100 and spent <= total and spent == expect and acct_spent == expect
              and stored == answered and released == answered)
        print(f"\n{kind}: {QUERIES} concurrent distinct queries, ε {EACH} each, grant ε {TOTAL} "
              f"(room for {int(gr.parse_epsilon(TOTAL) / gr.parse_epsilon(EACH))}); uvicorn --workers 2 "
              f"(worker pids {pids})")
        print("  responses: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items())))
        print(f"  answered {answered}, refused (409 budget_exhausted) {tally.get('409 budget_exhausted', 0)}; "
              f"wall {wall:.1f} s for all {QUERIES}")
        print(f"  ledger: grant spent {gr.from_nano(spent)} of {gr.from_nano(total)}; dataset account spent "
              f"{gr.from_nano(acct_spent)}; answered x {EACH} = {gr.from_nano(expect)}; stored answers {stored}; "
              f"release events {released}")
        print(f"  {'PASS' if ok else 'FAIL'}: at most 100 answered, spent <= total, spent == answered x {EACH} exactly")
        return ok


def main():
    ok = [bench(kind) for kind in kinds()]
    print("\ntarget: 200 concurrent queries against a budget for 100 -> at most 100 answered, ledger exact")
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
