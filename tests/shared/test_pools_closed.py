"""Nothing a service opens on PostgreSQL outlives its close (a leaked pool reconnects until the loop dies:
"Task was destroyed but it is pending!" at the end of every test run)."""

from __future__ import annotations

import asyncio

import asyncpg

from shared.db import Database, asyncpg_dsn, database_name


async def _connections(settings, service: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(settings, "postgres"))
    try:
        return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                                   "AND pid <> pg_backend_pid()", database_name(settings, service))
    finally:
        await conn.close()


async def test_jobs_asking_for_the_pool_at_once_share_one_and_close_leaves_nothing_connected(settings):
    """Concurrent jobs of a worker (imports) all ask the worker's Database for its pool the first time."""
    before = await _connections(settings, "registry")
    db = Database(settings, "registry")
    try:
        pools = await asyncio.gather(*(db.pool() for _ in range(4)))
        assert all(p is pools[0] for p in pools)
    finally:
        await db.close()
    for _ in range(50):      # a closed connection leaves pg_stat_activity a moment later
        if await _connections(settings, "registry") == before:
            break
        await asyncio.sleep(0.1)
    assert await _connections(settings, "registry") == before
