"""The reference for bench/loans_events.py: the same POST served by a bare FastAPI app on asyncpg, no auth, no
middleware, no idempotency, no audit: one INSERT … ON CONFLICT DO NOTHING of the event per request."""

import os

import asyncpg
from fastapi import FastAPI, Request


def create() -> FastAPI:
    app = FastAPI()

    @app.on_event("startup")
    async def start() -> None:
        app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=1, max_size=10)
        await app.state.pool.execute("CREATE TABLE IF NOT EXISTS bare_event (event_id text PRIMARY KEY,"
                                     " loan_no text NOT NULL, body jsonb NOT NULL)")

    @app.post("/events", status_code=201)
    async def post(request: Request) -> dict:
        body = await request.json()
        stored = await app.state.pool.fetchval(
            "INSERT INTO bare_event (event_id, loan_no, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
            " RETURNING true", body["event_id"], body["loan_no"], (await request.body()).decode())
        return {"stored": bool(stored)}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app
