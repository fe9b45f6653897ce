"""Mixed read/write load over HTTP on SQLite: 16 connections, no 5xx allowed.

One uvicorn worker (`pdzone serve`, with its log integration and job worker running) on 127.0.0.1
against a demo data directory; 16 client threads (httpx, keep-alive) send for `--seconds`:

- 55% GET /api/v1/me with one of 200 API tokens whose last use is old (so the token touch writes)
  — `PDZONE_TOKEN_CACHE_TTL_S=0`, so every GET resolves its token in the database;
- 15% GET /api/v1/datasets (a catalog read);
- 20% POST /api/v1/auth/api-tokens (a write with its audit event);
- 10% POST /api/v1/auth/token, a sign-in (argon2id, throttle reservation, session, audit event).

Before the mixed phase the same 16 threads hit the bare /healthz route (no auth, no database) for a
few seconds: the baseline of this machine and this run. Prints requests, status counts per kind, p50
and p99, and the number of 5xx and connection errors (the target is 0).

    python bench/mixed_load.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from pdzone.config import Settings
from pdzone.db import upgrade
from pdzone.web.demo import DEMO_PASSWORD, seed
from pdzone.web.runtime import Runtime

CONNS = 16
SIGN_IN_USERS = ["analyst", "provider", "operator", "expert", "transport_analyst", "transport_operator"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def prepare(data: Path, url: str) -> tuple[str, list[str]]:
    """Seed the demo (no datasets), sign the analyst in, issue 200 API tokens and age their last use."""
    rt = Runtime.from_settings(Settings(data_dir=data, database_url=url, keystore_passphrase="bench"))
    upgrade(rt.store)
    seed(rt, datasets=False)
    from pdzone.identity import auth

    if hasattr(auth, "sign_in"):
        res = auth.sign_in(rt.store, rt.vault, rt.settings, username="analyst", password=DEMO_PASSWORD, otp=None)
    else:  # an older pdzone, for comparison
        with rt.store.transaction() as s:
            res = auth.check_login(s, rt.vault, rt.settings, username="analyst", password=DEMO_PASSWORD, otp=None)
    session = res.token
    principal = auth.resolve_token(rt.store, rt.vault, rt.settings, session)
    tokens = []
    with rt.store.transaction() as s:
        for i in range(200):
            tok, _ = auth.do_issue_api_token(s, rt.vault, rt.settings, principal, name=f"bench{i}",
                                             scopes=["catalog.dataset.read"], days=1, zone_code=None,
                                             actor=principal.actor())
            tokens.append(tok)
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).replace(tzinfo=None)
    with rt.store.engine.begin() as c:
        c.execute(text("update access_tokens set last_used_at = :t"), {"t": old})
    rt.store.dispose()
    return session, tokens


def load(base: str, seconds: float, pick) -> tuple[dict, dict]:
    """16 threads sending pick(rng) -> (kind, method, path, headers, json) until time is up."""
    status: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    lat: dict[str, list[float]] = collections.defaultdict(list)
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def worker(n):
        rng = random.Random(n)
        with httpx.Client(base_url=base, timeout=30) as c:
            while time.perf_counter() < end:
                kind, method, path, headers, body = pick(rng)
                t = time.perf_counter()
                try:
                    code = str(c.request(method, path, headers=headers, json=body).status_code)
                except httpx.HTTPError as e:
                    code = f"conn_error:{type(e).__name__}"
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    status[kind][code] += 1
                    lat[kind].append(ms)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return status, lat


def report(title: str, status, lat, seconds: float) -> tuple[int, int]:
    total = sum(sum(c.values()) for c in status.values())
    print(f"\n{title}: {total} requests in {seconds:.0f} s ({total / seconds:,.0f} req/s), {CONNS} connections")
    print(f"{'kind':<14}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    five, conn = 0, 0
    for kind in sorted(status):
        c = status[kind]
        five += sum(v for k, v in c.items() if k.startswith("5"))
        conn += sum(v for k, v in c.items() if k.startswith("conn_error"))
        print(f"{kind:<14}{sum(c.values()):>9}{pct(lat[kind], 0.5):>9.1f}{pct(lat[kind], 0.99):>9.1f}  "
              f"{dict(sorted(c.items()))}")
    return five, conn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--baseline-seconds", type=float, default=4.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        data = Path(d)
        url = f"sqlite:///{data}/bench.db"
        session, tokens = prepare(data, url)
        port = free_port()
        env = {**os.environ, "PDZONE_DATA_DIR": str(data), "PDZONE_DATABASE_URL": url,
               "PDZONE_KEYSTORE_PASSPHRASE": "bench", "PDZONE_TOKEN_CACHE_TTL_S": "0"}
        log = open(data / "server.log", "w")  # noqa: SIM115 (the server's stderr, closed below)
        server = subprocess.Popen([sys.executable, "-m", "pdzone", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            base = f"http://127.0.0.1:{port}"

            def healthz(rng):
                return "healthz", "GET", "/healthz", None, None

            def mixed(rng):
                r = rng.random()
                if r < 0.55:
                    return "GET /me", "GET", "/api/v1/me", {"Authorization": f"Bearer {rng.choice(tokens)}"}, None
                if r < 0.70:
                    return "GET datasets", "GET", "/api/v1/datasets", {"Authorization": f"Bearer {session}"}, None
                if r < 0.90:
                    return ("POST token", "POST", "/api/v1/auth/api-tokens", {"Authorization": f"Bearer {session}"},
                            {"name": "load", "scopes": ["catalog.dataset.read"], "days": 1})
                return ("POST sign-in", "POST", "/api/v1/auth/token", None,
                        {"username": rng.choice(SIGN_IN_USERS), "password": DEMO_PASSWORD})

            st, lat = load(base, args.baseline_seconds, healthz)
            report("baseline /healthz", st, lat, args.baseline_seconds)
            st, lat = load(base, args.seconds, mixed)
            five, conn = report("mixed read/write (SQLite)", st, lat, args.seconds)
        finally:
            server.terminate()
            server.wait(10)
            log.close()
        errors = (data / "server.log").read_text()
        print(f"\n5xx: {five}   connection errors: {conn}   'database is locked' in the server log: "
              f"{errors.count('database is locked')}   (target: 0, 0)")
    sys.exit(1 if five or conn else 0)


if __name__ == "__main__":
    main()
