"""Notifications test helpers: a real SMS provider over HTTP, event envelopes, the worker's context."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from services.notifications.handlers import HANDLERS
from services.notifications.sms.delivery import RetryPolicy
from shared.db import Database
from shared.http import ServiceClient
from shared.jwt import KeyPair, Signer
from shared.settings import Settings
from shared.testing import free_port
from shared.worker import dispatch

@pytest.fixture(scope="session")
def settings(settings: Settings) -> Settings:
    """No quiet hours unless a test sets them: these tests run at any hour (test_quiet_hours fixes a clock)."""
    return settings.model_copy(update={"quiet_hours": ""})


FAST = RetryPolicy(delays=(0.05, 0.05), timeout=2.0, jitter=0, budget=5)


@dataclass
class Post:
    json: Any
    headers: dict[str, str]
    at: float


@dataclass
class SmsProvider:
    """A tiny SMS gateway on a real 127.0.0.1 port: records every post (a post it saw is a message it may
    have sent) and how many were open at once; can fail or hang the first N, or hang for a while."""

    url: str = ""
    posts: list[Post] = field(default_factory=list)
    fail_first: int = 0              # answer 500 to the first N posts
    always_fail: bool = False
    hang_first: int = 0              # answer the first N posts only after ``hang_seconds``
    hang_until: float = 0.0          # ... and every post arriving before this ``time.monotonic()``
    hang_seconds: float = 1.5
    delay: float = 0.0               # every answer takes this long
    status: int = 500
    retry_after: str | None = None
    open: int = 0                    # requests being answered now
    max_open: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/sms")
        async def receive(request: Request):
            self.open += 1
            self.max_open = max(self.max_open, self.open)
            try:
                self.posts.append(Post(await request.json(), dict(request.headers), time.monotonic()))
                n = len(self.posts)
                if n <= self.hang_first or self.posts[-1].at < self.hang_until:
                    until = time.monotonic() + self.hang_seconds       # or until the client gives up
                    while time.monotonic() < until and not await request.is_disconnected():
                        await asyncio.sleep(0.02)
                await asyncio.sleep(self.delay)
                if self.always_fail or n <= self.fail_first:
                    headers = {"Retry-After": self.retry_after} if self.retry_after else None
                    return JSONResponse({"error": "短信网关繁忙"}, status_code=self.status, headers=headers)
                return {"accepted": True}
            finally:
                self.open -= 1

        return app

    def keys(self) -> list[str]:
        return [p.headers.get("idempotency-key") for p in self.posts]


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):     # the test runner keeps its own signal handlers
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` on a real 127.0.0.1 port (uvicorn in this event loop); yields its base URL."""
    port = free_port()
    server = _QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                         timeout_graceful_shutdown=1, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def provider():
    p = SmsProvider()
    async with serving(p.app()) as base:
        p.url = f"{base}/sms"
        yield p


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def ndb(settings: Settings):
    db = Database(settings, "notifications")
    yield db
    await db.close()


def make_ctx(settings: Settings, db: Database, *, services: ServiceClient | None = None,
             client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    """The parts of the worker's context the handlers use."""
    if services is None:
        signer = Signer(KeyPair.from_file(settings.key_file), issuer=settings.jwt_issuer,
                        audience=settings.jwt_audience)
        services = ServiceClient(settings=settings, client=client or httpx.AsyncClient(), signer=signer,
                                 service="notifications")
    return {"settings": settings, "db": db, "services": services}


def envelope(topic: str, payload: dict[str, Any], *, source: str = "funds", event_id: str | None = None
             ) -> dict[str, Any]:
    return {"event_id": event_id or str(uuid.uuid4()), "topic": topic, "source": source, "payload": payload,
            "occurred_at": "2020-06-01T02:00:00+00:00"}


async def handle(ctx: dict[str, Any], event: dict[str, Any]) -> bool:
    return await dispatch(ctx, event, HANDLERS)


async def rows(db: Database, sql: str, **params) -> list:
    async with db.sessionmaker() as s:
        return list((await s.execute(text(sql), params)).all())


def resolved(**overrides: Any) -> dict[str, Any]:
    return {"objection_id": 7, "notice_id": 3, "notice_title": "欣荣村2020年贫困户识别公示",
            "region_code": "640122100001", "contact_phone": "13812345678",
            "reply": "经村民小组核实，该户住房为借住亲戚房屋，车辆登记在其子名下，符合识别条件。",
            "decision": "dismissed"} | overrides


def paid(**overrides: Any) -> dict[str, Any]:
    return {"disbursement_id": 11, "household_id": 42, "household_no": "6401221000010042", "head_name": "马文军",
            "head_phone": "13951234567", "amount": "3000.00", "purpose": "industry", "purpose_label": "产业发展",
            "account_tail": "1234", "bank_ref": "NX20200601-0042", "paid_at": "2020-06-01T02:00:00+00:00",
            "region_code": "640122100001"} | overrides
