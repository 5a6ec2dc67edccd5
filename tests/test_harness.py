"""On a machine without PostgreSQL and Redis the tests bring their own (embedded) servers."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import psutil
import redis.asyncio as aioredis

from shared import migrations
from shared.db import asyncpg_dsn, database_name
from shared.testing import TestServers, drop_databases


def test_embedded_servers_stand_in_and_leave_nothing_behind(monkeypatch):
    monkeypatch.setenv("JINGZHUN_TEST_EMBEDDED", "1")
    servers = TestServers()
    try:
        assert "127.0.0.1" not in servers.database_url and servers.redis_url.startswith("unix://")
        settings = servers.settings()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(migrations.upgrade, settings, "registry").result()

        async def check() -> tuple[str, bool]:
            conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
            version = await conn.fetchval("SHOW server_version")
            await conn.fetchval("SELECT count(*) FROM audit_log")
            await conn.close()
            r = aioredis.from_url(settings.redis_url)
            pong = await r.ping()
            await r.aclose()
            await drop_databases(settings)
            return version, pong

        version, pong = asyncio.run(check())
        assert version.startswith("18") and pong
    finally:
        servers.close()
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(servers.tmp) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
