"""Alembic per service: each service keeps its history in services/<name>/migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import async_engine_from_config

from shared.db import ensure_database, sqlalchemy_url
from shared.settings import Settings

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(settings: Settings, service: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url",
                        sqlalchemy_url(settings, service).render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def upgrade(settings: Settings, service: str) -> None:
    """Create the service's database if needed and upgrade it to head (call from sync code)."""
    asyncio.run(ensure_database(settings, service))
    command.upgrade(alembic_config(settings, service), "head")


def run_env(target_metadata: MetaData) -> None:
    """Body of each service's migrations/env.py."""
    config = context.config

    def do_run(connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(config.get_section(config.config_ini_section, {}),
                                          prefix="sqlalchemy.", poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())
