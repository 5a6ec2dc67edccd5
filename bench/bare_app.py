"""The reference: the same region read served by a bare FastAPI app on asyncpg, no auth, no middleware."""

import os

import asyncpg
from fastapi import FastAPI, HTTPException


def create() -> FastAPI:
    app = FastAPI()

    @app.on_event("startup")
    async def start() -> None:
        app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=1, max_size=10)

    @app.get("/regions/{code}")
    async def region(code: str) -> dict:
        row = await app.state.pool.fetchrow(
            "SELECT code, name, level, parent_code, rural_population, version FROM region WHERE code = $1", code)
        if row is None:
            raise HTTPException(404)
        return dict(row)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app
