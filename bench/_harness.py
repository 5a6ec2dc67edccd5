"""Bench helpers: real servers, uvicorn children, wrk load, RESULTS.md sections."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared import migrations
from shared.settings import Settings
from shared.testing import TestServers, drop_databases, free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"


def bench_settings(servers: TestServers, services: list[str]) -> Settings:
    settings = servers.settings(db_prefix=f"jzbench{os.getpid()}_", queue_prefix=f"jzbench{os.getpid()}")
    with ThreadPoolExecutor(1) as pool:
        for s in services:
            pool.submit(migrations.upgrade, settings, s).result()
    return settings


def env_for(settings: Settings, **urls: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINGZHUN_")}
    env.update({
        "JINGZHUN_DATABASE_URL": settings.database_url, "JINGZHUN_REDIS_URL": settings.redis_url,
        "JINGZHUN_DATA_DIR": str(settings.data_dir), "JINGZHUN_DB_PREFIX": settings.db_prefix,
        "JINGZHUN_QUEUE_PREFIX": settings.queue_prefix, "JINGZHUN_LOG_LEVEL": "warning",
        "JINGZHUN_ADMIN_PASSWORD": "bench-admin-password",
    })
    env.update({f"JINGZHUN_{k.upper()}": v for k, v in urls.items()})
    return env


class Server:
    def __init__(self, app: str, env: dict[str, str], *, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)

    def wait(self, path: str = "/healthz", timeout: float = 60) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.url}{path} never answered 200")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class BenchEnv:
    """Migrated databases of ``services`` on the test servers, the uvicorn children started on them, and one
    ``close()`` that stops the children and drops the databases."""

    def __init__(self, services: list[str]) -> None:
        self.servers = TestServers()
        self.settings = bench_settings(self.servers, services)
        self.started: list[Server] = []

    def start(self, app: str, env: dict[str, str], *, workers: int = 1) -> Server:
        server = Server(app, env, workers=workers)
        self.started.append(server)
        return server

    def close(self) -> None:
        for server in self.started:
            server.stop()
        asyncio.run(drop_databases(self.settings))
        self.servers.close()


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, *, headers: dict[str, str] | None = None, connections: int = 32, seconds: int = 10,
        threads: int = 2) -> Load:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed for load (Debian package `wrk`: apt-get install -y wrk)")
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return Load(rps, p50, p99, errors)


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between <!-- name --> markers in bench/RESULTS.md."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}"
