"""Developer commands: autogenerate a migration for a service against a scratch database."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import command

from shared.db import asyncpg_dsn, database_name
from shared.migrations import alembic_config, upgrade
from shared.settings import Settings


def make_migration(settings: Settings, service: str, message: str) -> None:
    scratch = settings.model_copy(update={"db_prefix": "jingzhun_scratch_"})

    async def drop() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(scratch, "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database_name(scratch, service)}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())
    upgrade(scratch, service)
    command.revision(alembic_config(scratch, service), message=message, autogenerate=True)
    asyncio.run(drop())
