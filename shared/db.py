"""Async engine and sessions (SQLModel over asyncpg), one database per service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.settings import Settings


def server_url(settings: Settings) -> URL:
    if not settings.database_url:
        raise RuntimeError("JINGZHUN_DATABASE_URL is not set (`jingzhun up` sets it for its children)")
    return make_url(settings.database_url)


def database_name(settings: Settings, service: str) -> str:
    return f"{settings.db_prefix}{service}"


def sqlalchemy_url(settings: Settings, service: str) -> URL:
    return server_url(settings).set(drivername="postgresql+asyncpg", database=database_name(settings, service))


def asyncpg_dsn(settings: Settings, database: str) -> str:
    url = server_url(settings).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


async def ensure_database(settings: Settings, service: str) -> bool:
    """Create the service's database when missing; True if it was created."""
    name = database_name(settings, service)
    conn = await asyncpg.connect(asyncpg_dsn(settings, "postgres"))
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


class Database:
    """The engine for the ORM and a raw asyncpg pool for hot and bulk paths."""

    def __init__(self, settings: Settings, service: str, *, pool_size: int = 20) -> None:
        self.settings = settings
        self.service = service
        # No overflow: an overflow connection is closed as soon as it is returned, so under steady load every
        # request beyond pool_size would open (and PostgreSQL fork) a new connection; beyond pool_size they wait.
        # Pre-ping: a connection that died in the pool (a database restart) is replaced, never handed out.
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(settings, service), pool_size=pool_size, max_overflow=0, pool_pre_ping=True)
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._pool: asyncpg.Pool | None = None
        self._pool_made = asyncio.Lock()      # two first callers at once must not make two pools (one would leak)

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_made:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        asyncpg_dsn(self.settings, database_name(self.settings, self.service)), min_size=1,
                        max_size=10)
        return self._pool

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        await self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the endpoint returns, rolled back on error."""
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
