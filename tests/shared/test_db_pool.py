"""A busy service keeps its PostgreSQL connections: a burst of requests beyond the pool waits for one instead
of opening (and making PostgreSQL fork) a new connection per request."""

import asyncio

from sqlalchemy import text

from shared.db import Database


async def burst(db: Database, n: int) -> set[int]:
    async def one() -> int:
        async with db.sessionmaker() as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await asyncio.sleep(0.02)       # held like a request's transaction
            return pid
    return set(await asyncio.gather(*(one() for _ in range(n))))


async def test_a_burst_beyond_the_pool_reuses_its_connections(settings):
    db = Database(settings, "registry", pool_size=5)
    try:
        first = await burst(db, 30)
        second = await burst(db, 30)
        assert len(first) <= 5
        assert second <= first       # no connection was closed and replaced by a new one
    finally:
        await db.close()
