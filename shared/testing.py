"""Test helpers: real PostgreSQL and Redis (the local servers, or embedded ones), tokens, ASGI clients."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
from fastapi import FastAPI

from shared.db import asyncpg_dsn, database_name
from shared.embedded import EmbeddedPostgres, EmbeddedRedis, RunDir
from shared.jwt import KeyPair, Signer
from shared.settings import SERVICES, Settings


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestServers:
    """PostgreSQL and Redis for a test session: the local ones when listening, embedded otherwise."""

    __test__ = False

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="jz-test-"))
        self._pg: EmbeddedPostgres | None = None
        self._redis: EmbeddedRedis | None = None
        self._run = RunDir(self.tmp)
        embedded = os.environ.get("JINGZHUN_TEST_EMBEDDED") == "1"   # as on a machine without servers
        if os.environ.get("JINGZHUN_TEST_DATABASE_URL"):
            self.database_url = os.environ["JINGZHUN_TEST_DATABASE_URL"]
        elif port_open("127.0.0.1", 5432) and not embedded:
            self.database_url = "postgresql://postgres@127.0.0.1:5432/postgres"
        else:
            self._pg = EmbeddedPostgres(self.tmp, self._run.path).start()
            self.database_url = self._pg.url
        if os.environ.get("JINGZHUN_TEST_REDIS_URL"):
            self.redis_url = os.environ["JINGZHUN_TEST_REDIS_URL"]
        elif port_open("127.0.0.1", 6379) and not embedded:
            self.redis_url = "redis://127.0.0.1:6379/0"
        else:
            self._redis = EmbeddedRedis(self.tmp, self._run.path).start()
            self.redis_url = self._redis.url

    def settings(self, **overrides) -> Settings:
        tag = f"jzt{os.getpid()}_{int(time.time() * 1000) % 100000}"
        base = dict(database_url=self.database_url, redis_url=self.redis_url, data_dir=self.tmp / "data",
                    db_prefix=f"{tag}_", queue_prefix=tag, notice_min_days=0,
                    quiet_hours="")     # tests that mean quiet hours set them
        base.update(overrides)
        return Settings(**base)

    def close(self) -> None:
        if self._redis:
            self._redis.stop()
        if self._pg is not None:
            self._pg.stop()
            self._pg.remove_outside_data()     # root: its data may live outside self.tmp (shared.embedded)
        self._run.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)


async def drop_databases(settings: Settings) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings, "postgres"))
    try:
        for service in SERVICES:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database_name(settings, service)}" WITH (FORCE)')
    finally:
        await conn.close()


async def open_connections(settings: Settings, *, settle: float = 5.0) -> list[str]:
    """What is still connected to the run's databases (after every test has closed its apps): a pool or an
    engine someone forgot to close. Waits up to ``settle`` seconds for connections that are just closing."""
    names = [database_name(settings, service) for service in SERVICES]
    conn = await asyncpg.connect(asyncpg_dsn(settings, "postgres"))
    try:
        deadline = time.monotonic() + settle
        while True:
            rows = await conn.fetch(
                "SELECT datname, application_name, state, left(query, 120) AS query FROM pg_stat_activity "
                "WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid() ORDER BY datname", names)
            if not rows or time.monotonic() > deadline:
                return [f"{r['datname']} ({r['application_name'] or 'no application_name'}, {r['state']}): "
                        f"{r['query']}" for r in rows]
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def truncate_all(settings: Settings, services=SERVICES) -> None:
    """Empty every table of each service database (fast isolation between tests)."""
    for service in services:
        conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, service)))
        try:
            names = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                     "AND tablename <> 'alembic_version'")
            if names:
                await conn.execute("SET lock_timeout = '20s'")
                try:
                    await conn.execute("TRUNCATE " + ", ".join(f'"{r["tablename"]}"' for r in names)
                                       + " RESTART IDENTITY CASCADE")
                except asyncpg.LockNotAvailableError:
                    holders = await conn.fetch(
                        "SELECT state, left(query, 200) AS query FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                    raise RuntimeError(f"a connection to {service} was left open by the test: "
                                       + "; ".join(f"{h['state']}: {h['query']}" for h in holders)) from None
        finally:
            await conn.close()


def make_token(settings: Settings, *, role: str, region: str = "640122000000", sub: str = "u-test",
               bank: str | None = None, ttl: int = 600, **extra) -> str:
    signer = Signer(KeyPair.from_file(settings.key_file), issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    claims = {"sub": sub, "role": role, "region": region, **extra}
    if bank:
        claims["bank"] = bank
    return signer.sign(claims, ttl=ttl)[0]


# Problems answer in Chinese unless asked otherwise; the tests read them in English (``language=None``: no header,
# as a cadre's app sends).
ENGLISH = {"Accept-Language": "en"}


@asynccontextmanager
async def app_client(app: FastAPI, *, token: str | None = None, language: str | None = "en"
                     ) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client driving the app in-process, with its lifespan running, asking for ``language``."""
    async with app.router.lifespan_context(app):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if language:
            headers["Accept-Language"] = language
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     headers=headers) as client:
            yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = await predicate()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval)


@asynccontextmanager
async def running(apps: dict[str, FastAPI], settings: Settings) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Start several service apps in-process and wire their service-to-service calls to each other."""
    mounts = {settings.service_url(name): httpx.ASGITransport(app=app) for name, app in apps.items()}
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        wired = httpx.AsyncClient(mounts=mounts)
        stack.push_async_callback(wired.aclose)
        for app in apps.values():
            await app.state.http.aclose()
            app.state.http = wired
            app.state.services.client = wired
        clients = {}
        for name, app in apps.items():
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers=ENGLISH))
            clients[name].app = app      # for a test that runs the service's jobs with its wired ServiceClient
        yield clients


async def seal_chain(settings: Settings, service: str) -> int:
    """Chain the audit rows still pending in ``service`` (as a reader of the chain does) before a test reads
    ``audit_log`` with plain SQL; returns how many it chained."""
    from shared import audit
    from shared.db import Database
    db = Database(settings, service)
    try:
        return await audit.sweep(db.engine)
    finally:
        await db.close()


class ServedInThread:
    """An ASGI app served by a real uvicorn on a free local port, in a thread (for a browser or any outside client):
    ``with ServedInThread(app) as s: s.url``."""

    def __init__(self, app, *, timeout: float = 30.0) -> None:
        import threading

        import uvicorn
        self.port, self.timeout = free_port(), timeout
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServedInThread:
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(self.timeout)
