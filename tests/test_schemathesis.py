"""schemathesis against the merged OpenAPI of the whole stack in-process (CONTRACT §1, §2; issue 11, must show 2).

The gateway app, with the registry, funds and notifications apps reached through ASGI (no servers, no mocks:
the same PostgreSQL and Redis as every test, in databases of this module's own), is handed to schemathesis as
one ASGI application. Every operation of ``/openapi.json`` runs through the examples, coverage and fuzzing
phases, as the bootstrap county admin and without a token, and the linked operations through the stateful
phase, under the checks ``not_a_server_error``, ``response_schema_conformance``, ``status_code_conformance``,
``content_type_conformance`` and ``ignored_auth``. Seeds are fixed, so a run is repeatable.

The budget keeps this file within a few minutes on two cores; ``JINGZHUN_SCHEMATHESIS_EXAMPLES`` raises it for
the longer run before a release (README, "Testing").
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import engine
from schemathesis.checks import not_a_server_error
from schemathesis.engine import events
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth, response_schema_conformance,
                                              status_code_conformance)

from services.funds.app import create as create_funds
from services.gateway.app import create as create_gateway
from services.notifications.app import create as create_notifications
from services.registry.app import create as create_registry
from shared import migrations
from jingzhun.demo import REGIONS
from shared.settings import SERVICES, Settings
from shared.testing import TestServers, drop_databases
from tests.gateway.conftest import ServiceTransport, netloc

ADMIN_PASSWORD = "Schemathesis-admin-2024"
# fuzzing cases per operation, and stateful scenarios (the coverage phase's cases are as many as the schemas ask)
EXAMPLES = int(os.environ.get("JINGZHUN_SCHEMATHESIS_EXAMPLES", "30"))
STEPS = 6                                                                   # steps per stateful scenario
SEED = 20_201_231
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance,
          ignored_auth]


class Stack:
    """One ASGI application: the gateway; its lifespan also starts the services and wires every service-to-service
    call (and the gateway's) to the in-process apps."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: dict[str, FastAPI] = {"registry": create_registry(settings), "funds": create_funds(settings),
                                             "notifications": create_notifications(settings)}
        self.transport = ServiceTransport({netloc(settings.service_url(n)): a for n, a in self.services.items()})
        self.gateway = create_gateway(settings, transport=self.transport)
        self.transport.transports[netloc(settings.service_url("gateway"))] = httpx.ASGITransport(
            app=self.gateway, client=("10.1.2.3", 4567))
        self._exits: AsyncExitStack | None = None

    async def start(self) -> None:
        exits = AsyncExitStack()
        for app in self.services.values():
            await exits.enter_async_context(app.router.lifespan_context(app))
            await app.state.http.aclose()
            app.state.http = httpx.AsyncClient(transport=self.transport, trust_env=False, timeout=10.0)
            app.state.services.client = app.state.http
            exits.push_async_callback(app.state.http.aclose)
        await exits.enter_async_context(self.gateway.router.lifespan_context(self.gateway))
        self._exits = exits

    async def stop(self) -> None:
        if self._exits is not None:
            await self._exits.aclose()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            await self.gateway(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture(scope="module")
def stack_settings(servers: TestServers) -> Iterator[Settings]:
    """Databases of this module's own: other tests empty theirs after each test, this run keeps its data."""
    settings = servers.settings(admin_password=ADMIN_PASSWORD)
    with ThreadPoolExecutor(1) as pool:
        for service in SERVICES:
            pool.submit(migrations.upgrade, settings, service).result()
    yield settings
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, drop_databases(settings)).result()


@pytest.fixture(scope="module")
def stack(stack_settings: Settings) -> Iterator[Stack]:
    stack = Stack(stack_settings)
    yield stack
    schemathesis_asgi.shutdown_lifespans()


def config() -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "workers": 1,
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": True, "max-steps": STEPS}},
        "checks": {"enabled": False, **{check.__name__: {"enabled": True} for check in CHECKS}},
    })


@pytest.fixture(scope="module")
def admin_token(stack: Stack):
    """The bootstrap county admin: signed in once through the API (the account works), then a fresh token of
    the same claims for each request, so that ``POST /auth/logout`` revokes only that request's own."""
    with schemathesis_asgi.get_client(stack) as session:
        r = session.post("/api/v1/auth/token", data={"grant_type": "password", "username": "admin",
                                                     "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
        me = session.get("/api/v1/auth/me", headers=bearer).json()
        for region in REGIONS:          # the demo county's regions: the schemas' examples name them
            created = session.post("/api/v1/regions", headers=bearer, json={
                "code": region.code, "name": region.name, "rural_population": region.rural_population})
            assert created.status_code == 201, created.text
    assert me["role"] == "county_admin", me
    claims = {"sub": str(me["id"]), "role": me["role"], "region": me["region_code"]}
    signer = stack.gateway.state.signer
    return lambda: signer.sign(claims, ttl=900)[0]


def load(stack: Stack, token=None):
    schema = schemathesis.openapi.from_asgi("/openapi.json", stack, config=config())
    if token is not None:
        @schema.auth(refresh_interval=None)
        class CountyAdmin:
            def get(self, case, context):
                return token()

            def set(self, case, data, context):
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
    return schema


def failures(schema) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Run every phase; the failures found (operation, what failed, with a curl to reproduce it) and how many
    cases each phase ran."""
    found: list[tuple[str, str]] = []
    ran: dict[str, int] = {}
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise event.exception
        if isinstance(event, events.NonFatalError):
            found.append((event.label, f"error: {event.info.title}: {event.info.message}"))
        if isinstance(event, events.ScenarioFinished):
            ran[event.phase.value] = ran.get(event.phase.value, 0) + len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        found.append((failure.operation, f"[{event.phase.value}] {check.name}: {failure.title}: "
                                      f"{failure.message}\n    {check.failure_info.code_sample}"))
    return found, ran


@pytest.mark.timeout(max(300, 20 * EXAMPLES))      # the longer run takes longer than a test may by default
@pytest.mark.parametrize("caller", ["county_admin", "anonymous"])
def test_every_operation_answers_as_documented(stack, admin_token, caller):
    schema = load(stack, admin_token if caller == "county_admin" else None)
    started = time.monotonic()
    found, ran = failures(schema)
    print(f"\nschemathesis as {caller}: {ran} cases in {time.monotonic() - started:.0f} s")
    new = sorted({f"{operation} {what}" for operation, what in found})
    assert sum(ran.values()) > 1000 and ran.get("stateful"), ran
    assert not new, f"{len(new)} failures:\n" + "\n".join(new)
