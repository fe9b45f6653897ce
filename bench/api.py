"""Authenticated API GETs and login, in-process and over HTTP.

Targets (issue): an authenticated GET (token already issued) p50 <= 5 ms in-process, and
>= 1,000 requests/s over HTTP on one uvicorn worker with 16 connections. In-run baselines:
the bare /healthz route (no auth, no database) through the same client and server. Login
time (argon2id, t=3, 64 MiB) is reported too. Over HTTP the load comes from `wrk`
(Debian package wrk) when it is installed, else from a small asyncio client (which shares
the two cores with the server and so understates the server).

    python bench/api.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient

from pdzone.config import Settings
from pdzone.db import upgrade
from pdzone.web.app import create_app
from pdzone.web.demo import DEMO_PASSWORD, demo_totp_secret, seed
from pdzone.web.runtime import Runtime

PATHS = ["/healthz", "/api/v1/me", "/api/v1/audit/checkpoint"]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login(client) -> tuple[str, float]:
    t = time.perf_counter()
    r = client.post("/api/v1/auth/token", json={"username": "auditor", "password": DEMO_PASSWORD,
                                                 "otp": pyotp.TOTP(demo_totp_secret("auditor")).now()})
    r.raise_for_status()
    return r.json()["access_token"], (time.perf_counter() - t) * 1000


def in_process(rt):
    with TestClient(create_app(rt, maintain_log=False)) as c:
        token, login_ms = login(c)
        logins = [login_ms]
        for _ in range(4):
            r = c.post("/api/v1/auth/token", json={"username": "analyst", "password": DEMO_PASSWORD})
            t = time.perf_counter()
            r = c.post("/api/v1/auth/token", json={"username": "analyst", "password": DEMO_PASSWORD})
            logins.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
        h = {"Authorization": f"Bearer {token}"}
        print(f"login (argon2id t=3 m=64MiB p=4): p50 {pct(logins, 0.5):.0f} ms")
        print(f"{'in-process GET':<28}{'p50 ms':>8}{'p99 ms':>8}")
        for path in PATHS:
            lat = []
            for i in range(2200):
                t = time.perf_counter()
                r = c.get(path, headers=h)
                if i >= 200:
                    lat.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
            print(f"{path:<28}{pct(lat, 0.5):>8.2f}{pct(lat, 0.99):>8.2f}")
        return token


def over_http(data_dir: Path, db_url: str, token: str):
    port = free_port()
    env = {**os.environ, "PDZONE_DATA_DIR": str(data_dir), "PDZONE_DATABASE_URL": db_url,
           "PDZONE_KEYSTORE_PASSPHRASE": "bench"}
    server = subprocess.Popen([sys.executable, "-m", "pdzone", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        wrk = shutil.which("wrk")
        load = "wrk" if wrk else "asyncio"
        print(f"{'HTTP, 1 worker, 16 conns':<28}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}   load: {load}")
        for path in PATHS:
            url = f"http://127.0.0.1:{port}{path}"
            if wrk:
                out = subprocess.run([wrk, "-t2", "-c16", "-d8s", "--latency", "-H", f"Authorization: Bearer {token}",
                                      url], capture_output=True, text=True).stdout
                rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
                lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
                non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                assert non2xx is None, out
                print(f"{path:<28}{rps:>9,.0f}{lat.get('50', '?'):>8}{lat.get('99', '?'):>8}")
            else:
                print(f"{path:<28}{_asyncio_load(url, token):>9,.0f}")
    finally:
        server.terminate()
        server.wait(10)


def _asyncio_load(url: str, token: str, seconds: float = 8.0) -> float:
    import asyncio

    import httpx

    async def run():
        n = 0
        end = time.perf_counter() + seconds
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as c:
            async def worker():
                nonlocal n
                while time.perf_counter() < end:
                    (await c.get(url)).raise_for_status()
                    n += 1
            await asyncio.gather(*[worker() for _ in range(16)])
        return n / seconds

    return asyncio.run(run())


def main():
    with tempfile.TemporaryDirectory() as d:
        data = Path(d)
        url = f"sqlite:///{data}/bench.db"
        rt = Runtime.from_settings(Settings(data_dir=data, database_url=url, keystore_passphrase="bench"))
        upgrade(rt.store)
        seed(rt)
        token = in_process(rt)
        rt.store.dispose()
        over_http(data, url, token)
    print("targets: authenticated GET p50 <= 5 ms in-process; >= 1,000 req/s over HTTP (16 connections)")
    print(json.dumps({"note": "/healthz is the bare-route baseline"}))


if __name__ == "__main__":
    main()
