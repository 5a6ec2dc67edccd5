"""Each service's Alembic history builds exactly the tables its models describe (nothing forgotten in a
hand-edited migration, nothing in a model that no migration creates)."""

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import sqlalchemy_url
from shared.testing import SERVICES


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_match_the_models(settings, service):
    metadata = importlib.import_module(f"services.{service}.models").metadata
    engine = create_async_engine(sqlalchemy_url(settings, service))
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), metadata))
    finally:
        await engine.dispose()
    assert diff == [], f"{service}: models and migrations differ: {diff}"
