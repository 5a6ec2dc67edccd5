"""Fixtures for the funds tests: opening notices as a service would, a movable clock, the funds database."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from services.funds.notices import service as notice_service
from shared import idnumber
from shared.db import asyncpg_dsn, database_name
from shared.testing import auth, make_token
from tests.conftest import VILLAGE


def person(seq: int, *, name: str = "马文军", amount: str | None = "3000.00", **extra: Any) -> dict[str, Any]:
    """A listed household with a real-looking ID number and mobile number."""
    item = {"ref": f"household:{seq}", "name": name,
            "id_number": idnumber.make("640122", date(1970, 1, 1) + timedelta(days=97 * seq), seq),
            "phone": f"1391234{seq:04d}", "attribute": "general", "main_cause": "illness", "members": 3}
    if amount is not None:
        item["amount"] = amount
    return item | extra


def notice_body(**overrides: Any) -> dict[str, Any]:
    body = {"kind": "registration", "region_code": VILLAGE, "title": "欣荣村2020年贫困户识别公示",
            "requester": "registry", "requester_ref": "households:batch-1", "region_name": "欣荣村",
            "items": [person(1, name="马文军"), person(2, name="李秀英"), person(3, name="杨占福")], "days": 7}
    return body | overrides


@pytest.fixture
def service_headers(settings) -> dict[str, str]:
    return auth(make_token(settings, role="service", region="", sub="svc:registry"))


@pytest.fixture
def open_notice(funds, service_headers):
    async def open_(**overrides: Any) -> dict[str, Any]:
        r = await funds.post("/internal/notices", json=notice_body(**overrides), headers=service_headers)
        assert r.status_code == 201, r.text
        return r.json()
    return open_


class Clock:
    """Moves the notices service's clock: ``clock.advance(days=8)``."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)

    def now(self):
        return _real_now() + self.offset


_real_now = notice_service.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(notice_service, "now", c.now)
    return c


@pytest.fixture
async def funds_db(settings):
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    yield conn
    await conn.close()


@pytest.fixture(autouse=True)
async def _forget_rate_limits(request):
    """Notice ids restart with every test: so must the objection counters kept in Redis."""
    yield
    if "settings" not in request.fixturenames:
        return
    settings = request.getfixturevalue("settings")
    r = aioredis.from_url(settings.redis_url)
    try:
        keys = [k async for k in r.scan_iter(match=f"{settings.queue_prefix}:objections:*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


async def outbox_events(conn, topic: str) -> list[dict[str, Any]]:
    import json
    rows = await conn.fetch("SELECT destinations, payload FROM outbox WHERE topic = $1 ORDER BY id", topic)
    return [{"to": list(r["destinations"]), "payload": json.loads(r["payload"])} for r in rows]
