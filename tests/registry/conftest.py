"""Registry test helpers: a small region tree, valid ID numbers, household bodies."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from shared import idnumber
from shared.testing import auth
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE

OTHER_VILLAGE = "640122101001"      # in OTHER_TOWNSHIP
_counter = itertools.count(1)


def new_id(*, male: bool = True, born: date | None = None) -> str:
    """A fresh valid GB 11643 ID number (distinct on every call)."""
    n = next(_counter)
    # birth days cycle through 1940-2008 (a long run of tests must never be born in the future); with the
    # sequence number they repeat only after 25,000 numbers
    born = born or date(1940, 1, 1) + timedelta(days=(n * 37) % 25_000)
    seq = (n * 2 + (1 if male else 0)) % 1000
    return idnumber.make("640122", born, seq)


def member(relation: str = "head", **kw) -> dict:
    body = {"name": kw.pop("name", "马建国" if relation == "head" else "李秀兰"), "id_number": kw.pop("id_number", None)
            or new_id(male=relation in ("head", "son")), "relation": relation, "health": "healthy",
            "labor": "normal", "education": "junior_high", "in_school": False, "migrant_worker": False}
    body.update(kw)
    return body


def household(village: str = VILLAGE, members: list[dict] | None = None, **kw) -> dict:
    body = {"village_code": village, "address": "宁夏回族自治区银川市贺兰县欣荣村3组12号", "phone": "13951234567",
            "attribute": "dibao", "main_cause": "illness", "other_causes": ["lack_skills"], "identified_year": 2016,
            "payout_account": {"bank_code": "NXRCU", "account_no": "6228480012345678901"},
            "members": members if members is not None else [member("head"), member("spouse")]}
    body.update(kw)
    return body


@pytest.fixture
async def regions(registry, token):
    """贺兰县 with two townships and a village in each."""
    h = auth(token())
    for code, name, pop in ((COUNTY, "贺兰县", 120000), (TOWNSHIP, "洪广镇", 20000), (OTHER_TOWNSHIP, "金贵镇", 18000),
                            (VILLAGE, "欣荣村", 900), (OTHER_VILLAGE, "银河村", 800)):
        r = await registry.post("/api/v1/regions", json={"code": code, "name": name, "rural_population": pop},
                                headers=h)
        assert r.status_code == 201, r.text


@pytest.fixture
def create(registry, token, regions):
    """``await create(body=None, as_=token)`` → the 201 answer's JSON."""
    async def make(body: dict | None = None, headers: dict | None = None) -> dict:
        r = await registry.post("/api/v1/households", json=body or household(), headers=headers or auth(token()))
        assert r.status_code == 201, r.text
        return r.json()
    return make


# --- the registry with its neighbours in-process: the gateway (users) and funds (公示) ---------------------------

import uuid  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

from shared.db import Database  # noqa: E402
from shared.testing import running  # noqa: E402
from shared.worker import dispatch  # noqa: E402


def fake_funds(settings) -> FastAPI:
    """Funds' internal notice contract, and nothing else: records each notice asked for (the service token
    checked with the deployment's key), answers 201 with an id."""
    from shared.jwt import KeyPair, Verifier

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.http = httpx.AsyncClient()
        app.state.services = type("S", (), {"client": None})()
        yield
        await app.state.http.aclose()

    app = FastAPI(lifespan=lifespan)
    app.state.notices = []
    verifier = Verifier(KeyPair.from_file(settings.key_file), issuer=settings.jwt_issuer, audience=settings.jwt_audience)

    @app.post("/internal/notices", status_code=201)
    async def open_notice(request: Request) -> Any:
        claims = verifier.verify(request.headers["authorization"].removeprefix("Bearer "))
        if claims["role"] != "service":
            return JSONResponse({"type": "x", "title": "no", "status": 403, "detail": "internal"}, status_code=403)
        body = await request.json()
        app.state.notices.append(body)
        return {"id": 500 + len(app.state.notices), "starts_at": "2024-01-01T00:00:00+08:00",
                "ends_at": "2024-01-08T00:00:00+08:00", "content_hash": "0" * 64, "status": "open"}

    return app


@dataclass
class Stack:
    registry: httpx.AsyncClient
    gateway: httpx.AsyncClient
    settings: Any
    notices: list[dict] = field(default_factory=list)

    async def close_notice(self, notice_id: int, kind: str, struck: dict[int, bool], event_id: str | None = None
                           ) -> bool:
        """What funds' ``notice.closed`` event does once the worker hands it to the registry."""
        event = {"event_id": event_id or str(uuid.uuid4()), "topic": "notice.closed", "source": "funds",
                 "payload": {"notice_id": notice_id, "kind": kind, "requester_ref": "x", "region_code": VILLAGE,
                             "items": [{"ref": str(h), "struck": s} for h, s in struck.items()]}}
        return await apply_event(self.settings, event)


async def apply_event(settings, event: dict) -> bool:
    from services.registry.worker import HANDLERS
    db = Database(settings, "registry")
    try:
        return await dispatch({"db": db, "settings": settings}, event, HANDLERS)
    finally:
        await db.close()


async def make_regions(client: httpx.AsyncClient, headers: dict) -> None:
    for code, name, pop in ((COUNTY, "贺兰县", 120000), (TOWNSHIP, "洪广镇", 20000), (OTHER_TOWNSHIP, "金贵镇", 18000),
                            (VILLAGE, "欣荣村", 900), (OTHER_VILLAGE, "银河村", 800)):
        r = await client.post("/api/v1/regions", json={"code": code, "name": name, "rural_population": pop},
                              headers=headers)
        assert r.status_code == 201, r.text


@pytest.fixture
async def stack(settings, token) -> AsyncIterator[Stack]:
    from services.gateway.app import create as create_gateway
    from services.registry.app import create as create_registry
    funds = fake_funds(settings)
    apps = {"registry": create_registry(settings), "gateway": create_gateway(settings), "funds": funds}
    async with running(apps, settings) as clients:
        await make_regions(clients["registry"], auth(token()))
        yield Stack(registry=clients["registry"], gateway=clients["gateway"], settings=settings,
                    notices=funds.state.notices)


async def create_user(stack: Stack, token, *, username: str, role: str, region: str) -> int:
    r = await stack.gateway.post("/api/v1/auth/users", headers=auth(token()), json={
        "username": username, "password": "Helan-2024-secret", "display_name": "王帮扶", "role": role,
        "region_code": region})
    assert r.status_code == 201, r.text
    return r.json()["id"]
