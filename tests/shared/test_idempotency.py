"""A cadre's retried upload: the same Idempotency-Key replays the first answer and creates nothing new."""

import asyncio

import asyncpg

from shared.db import asyncpg_dsn, database_name
from shared.testing import auth

SOURCE = {"name": "财政专项扶贫资金", "level": "central", "doc_no": "宁财农〔2020〕12号", "year": 2020}


async def count_sources(settings) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    try:
        return await conn.fetchval("SELECT count(*) FROM fund_source")
    finally:
        await conn.close()


async def test_a_retry_with_the_same_key_replays_the_first_answer(funds, token, settings):
    h = auth(token()) | {"Idempotency-Key": "upload-1"}
    first = await funds.post("/api/v1/fund-sources", json=SOURCE, headers=h)
    again = await funds.post("/api/v1/fund-sources", json=SOURCE, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert await count_sources(settings) == 1
    other = await funds.post("/api/v1/fund-sources", json=SOURCE | {"year": 2021}, headers=h)
    assert other.status_code == 409 and other.json()["type"].endswith("/idempotency-key-reused")
    assert await count_sources(settings) == 1
    # keys belong to their caller: another user's identical key is a different request
    theirs = await funds.post("/api/v1/fund-sources", json=SOURCE,
                              headers=auth(token(sub="u-finance", role="finance_officer")) | {"Idempotency-Key": "upload-1"})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


async def test_concurrent_retries_create_one_row(funds, token, settings):
    h = auth(token()) | {"Idempotency-Key": "burst"}
    answers = await asyncio.gather(*[funds.post("/api/v1/fund-sources", json=SOURCE, headers=h) for _ in range(8)])
    assert {a.status_code for a in answers} <= {201, 409}
    created = [a.json()["id"] for a in answers if a.status_code == 201]
    assert created and len(set(created)) == 1
    assert await count_sources(settings) == 1


async def test_a_failed_request_does_not_burn_the_key(funds, token, settings):
    h = auth(token()) | {"Idempotency-Key": "k-422"}
    bad = await funds.post("/api/v1/fund-sources", json=SOURCE | {"level": "galactic"}, headers=h)
    assert bad.status_code == 422
    assert (await funds.post("/api/v1/fund-sources", json=SOURCE, headers=h)).status_code == 201
