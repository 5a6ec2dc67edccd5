"""Real PostgreSQL and Redis for every test: one set of databases per run, emptied after each test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared import migrations
from shared.embedded import EmbeddedRedis, RunDir
from shared.settings import SERVICES, Settings
from shared.testing import TestServers, app_client, drop_databases, make_token, open_connections, truncate_all

# SMS are not held for the night in tests (nor in the stacks they start as subprocesses), whatever the hour CI
# runs at; the quiet-hours tests set their own window.
os.environ["JINGZHUN_QUIET_HOURS"] = ""

COUNTY = "640122000000"       # 贺兰县
TOWNSHIP = "640122100000"     # 洪广镇
OTHER_TOWNSHIP = "640122101000"
VILLAGE = "640122100001"


@pytest.fixture(scope="session")
def servers() -> TestServers:
    s = TestServers()
    yield s
    s.close()


@pytest.fixture(scope="session")
def settings(servers: TestServers) -> Settings:
    settings = servers.settings()
    # in a thread: the first test to ask may already be running an event loop
    with ThreadPoolExecutor(1) as pool:
        for service in SERVICES:
            pool.submit(migrations.upgrade, settings, service).result()
    yield settings
    with ThreadPoolExecutor(1) as pool:
        left = pool.submit(asyncio.run, open_connections(settings)).result()
        pool.submit(asyncio.run, drop_databases(settings)).result()
    # A pool left open keeps reconnecting to the dropped databases until the loop closes under it
    # ("Task was destroyed but it is pending!" at exit): name what was left instead.
    assert not left, "connections left open by the tests (close every Database, pool and app):\n" + "\n".join(left)


@pytest.fixture(autouse=True)
async def _clean(request) -> AsyncIterator[None]:
    yield
    if "settings" in request.fixturenames:
        await truncate_all(request.getfixturevalue("settings"))


@pytest.fixture
def token(settings: Settings):
    def make(role: str = "county_admin", region: str = COUNTY, sub: str = "u-admin", **kw) -> str:
        return make_token(settings, role=role, region=region, sub=sub, **kw)
    return make


def _service_app(name: str, settings: Settings):
    import importlib
    return importlib.import_module(f"services.{name}.app").create(settings)


@pytest.fixture
async def registry(settings: Settings):
    async with app_client(_service_app("registry", settings)) as client:
        yield client


@pytest.fixture
async def funds(settings: Settings):
    async with app_client(_service_app("funds", settings)) as client:
        yield client


@pytest.fixture
async def notifications(settings: Settings):
    async with app_client(_service_app("notifications", settings)) as client:
        yield client


@pytest.fixture
async def own_redis(tmp_path):
    """A Redis server of the test's own, to stop and start again (never the shared one)."""
    run = RunDir(tmp_path)
    server = EmbeddedRedis(tmp_path, run.path).start()
    yield server
    server.stop()
    run.cleanup()
