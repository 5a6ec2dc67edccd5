"""A database restart costs callers a 503 with Retry-After while it lasts, and nothing after it: no 500, and no
dead pooled connection handed to the first request once the database is back."""

import asyncio

import asyncpg

from shared.db import asyncpg_dsn, database_name
from shared.testing import app_client, auth
from tests.conftest import VILLAGE, _service_app
from tests.registry.conftest import household


async def _cut_connections(settings, service: str) -> int:
    """What a PostgreSQL restart does to a service's pooled connections: every one is closed by the server."""
    conn = await asyncpg.connect(asyncpg_dsn(settings, "postgres"))
    try:
        cut = len(await conn.fetch("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                                   "WHERE datname = $1 AND pid <> pg_backend_pid()", database_name(settings, service)))
        await asyncio.sleep(0.2)            # a restart takes longer than this: the server's closes have arrived
        return cut
    finally:
        await conn.close()


async def test_the_first_requests_after_a_restart_get_their_answers(settings, token, registry, regions):
    if True:
        admin = auth(token())
        made = await registry.post("/api/v1/households", json=household(), headers=admin)
        assert made.status_code == 201, made.text
        hid = made.json()["id"]
        for _ in range(3):
            assert (await registry.get("/api/v1/households", headers=admin)).status_code == 200
            assert (await registry.get(f"/api/v1/households/{hid}", headers=admin)).status_code == 200
        assert await _cut_connections(settings, "registry") >= 1
        # the ORM path, the raw read path and a write, each on a pool whose connections are all dead
        assert (await registry.get("/api/v1/households", headers=admin)).status_code == 200
        assert (await registry.get(f"/api/v1/households/{hid}", headers=admin)).status_code == 200
        r = await registry.post("/api/v1/households", json=household(VILLAGE), headers=admin)
        assert r.status_code == 201, r.text


async def test_while_the_database_is_away_callers_get_503_with_retry_after(settings, token):
    away = settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/postgres"})
    async with app_client(_service_app("registry", away)) as registry:
        admin = auth(token())
        for method, path, body in (("GET", "/api/v1/households", None), ("GET", "/api/v1/households/1", None),
                                   ("POST", "/api/v1/households", household())):
            r = await registry.request(method, path, json=body, headers=admin)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert int(r.headers["retry-after"]) > 0
