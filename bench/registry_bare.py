"""The reference for bench/registry_read.py: a household row served by a bare FastAPI app on asyncpg (no auth,
no middleware, no decryption, no access log)."""

import os

import asyncpg
from fastapi import FastAPI, HTTPException


def create() -> FastAPI:
    app = FastAPI()

    @app.on_event("startup")
    async def start() -> None:
        app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=1, max_size=10)

    @app.get("/households/{household_id}")
    async def household(household_id: int) -> dict:
        row = await app.state.pool.fetchrow(
            "SELECT id, household_no, village_code, address, attribute, main_cause, status, head_name, member_count,"
            " version FROM household WHERE id = $1", household_id)
        if row is None:
            raise HTTPException(404)
        return dict(row)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app
