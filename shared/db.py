"""Async engine and sessions (SQLModel over asyncpg), one database per service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import await_
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


IDLE_PING_SECONDS = 1.0     # a connection idle longer than this is pinged before it is handed out


def _hand_out_live_connections(engine: AsyncEngine) -> None:
    """Never hand out a connection that died in the pool (a database restart, a failover, a cut).

    Every checkout looks at the socket (free: the server's close has been seen by the event loop); a connection
    that sat idle for more than IDLE_PING_SECONDS also answers one round trip first. Busy connections, checked
    out again within milliseconds, skip that round trip: SQLAlchemy's ``pool_pre_ping`` pays three (BEGIN, ping,
    ROLLBACK) on every checkout, a third of a short request's time (bench/db_pre_ping.py). A dead connection is
    replaced with a new one; a database that is away then answers 503 (shared.problems.database_away).
    """
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _idle_from(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _alive(dbapi_connection, record, proxy) -> None:
        raw = dbapi_connection.driver_connection
        if raw.is_closed():
            raise sa_exc.DisconnectionError("the server closed this connection")
        idle_since = record.info.pop("idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since > IDLE_PING_SECONDS:
            try:
                await_(raw.execute(";"))
            except Exception as exc:
                raise sa_exc.DisconnectionError(f"the connection did not answer: {exc!r}") from exc


class Database:
    """The engine for the ORM and a raw asyncpg pool for hot and bulk paths."""

    def __init__(self, settings: Settings, service: str, *, pool_size: int = 20) -> None:
        self.settings = settings
        self.service = service
        # No overflow: an overflow connection is closed as soon as it is returned, so under steady load every
        # request beyond pool_size would open (and PostgreSQL fork) a new connection; beyond pool_size they wait.
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(settings, service), pool_size=pool_size, max_overflow=0)
        _hand_out_live_connections(self.engine)
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
        from shared import audit       # audit's router needs this module: imported here, not at the top
        await audit.settle(self.engine)
        if self._pool is not None:
            await self._pool.close()
        await self.engine.dispose()


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The session's own asyncpg connection, inside its transaction: for COPY, and for the few statements every
    write runs (idempotency, audit, outbox) where SQLAlchemy's statement building would cost more than the query."""
    fairy = await (await session.connection()).get_raw_connection()
    adapted = fairy.dbapi_connection
    if adapted._transaction is None:    # SQLAlchemy sends BEGIN lazily, before its first statement: send it now
        await adapted._start_transaction()
    return fairy.driver_connection


def to_json(value: Any) -> str:
    """JSON text of plain values by orjson, of a model by pydantic, of anything else (Decimal...) as FastAPI
    encodes it."""
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return orjson.dumps(value, default=jsonable_encoder, option=orjson.OPT_NON_STR_KEYS).decode()


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
        from shared import audit       # imported here: audit's router needs this module
        await audit.sealed(session)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
