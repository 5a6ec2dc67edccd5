"""The gateway in-process, with the services it routes to running in-process too (no servers, no mocks:
the same PostgreSQL and Redis as everything else)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import create as create_gateway
from services.registry.app import create as create_registry
from shared.settings import Settings
from shared.testing import app_client

ADMIN = "admin"
ADMIN_PASSWORD = "Helan-admin-2024"


class ServiceTransport(httpx.AsyncBaseTransport):
    """Sends each request to the in-process app registered for its host:port; others are refused
    (as a stopped service would be). Counts the requests each service received."""

    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self.transports = {netloc: httpx.ASGITransport(app=app, client=("10.1.2.3", 4567))
                           for netloc, app in apps.items()}
        self.calls: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.transports.get(request.url.netloc.decode())
        if transport is None:
            raise httpx.ConnectError("connection refused", request=request)
        self.calls.append(request)
        return await transport.handle_async_request(request)


def netloc(url: str) -> str:
    return httpx.URL(url).netloc.decode()


@dataclass
class Stack:
    client: httpx.AsyncClient
    app: FastAPI
    settings: Settings
    transport: ServiceTransport
    services: dict[str, FastAPI] = field(default_factory=dict)

    async def login(self, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> dict:
        r = await self.client.post("/api/v1/auth/token",
                                   data={"grant_type": "password", "username": username, "password": password})
        assert r.status_code == 200, r.text
        return r.json()

    async def bearer(self, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await self.login(username, password))['access_token']}"}


@pytest.fixture
def make_stack(settings: Settings) -> Callable:
    """``async with make_stack(extra_apps) as stack``: the gateway plus the registry (and any ``extra_apps``,
    keyed by service name) in-process."""
    stacks: list[AsyncExitStack] = []

    class _Ctx:
        def __init__(self, extra: dict[str, FastAPI] | None = None, *, with_registry: bool = True) -> None:
            self.extra = extra or {}
            self.with_registry = with_registry

        async def __aenter__(self) -> Stack:
            exits = AsyncExitStack()
            stacks.append(exits)
            services: dict[str, FastAPI] = {}
            if self.with_registry:
                services["registry"] = create_registry(settings)
            services.update(self.extra)
            for app in services.values():
                await exits.enter_async_context(app.router.lifespan_context(app))
            transport = ServiceTransport({netloc(settings.service_url(name)): app for name, app in services.items()})
            gw_settings = settings.model_copy(update={"admin_password": ADMIN_PASSWORD})
            gateway = create_gateway(gw_settings, transport=transport)
            client = await exits.enter_async_context(app_client(gateway))
            return Stack(client=client, app=gateway, settings=gw_settings, transport=transport, services=services)

        async def __aexit__(self, *exc) -> None:
            await stacks.pop().aclose()

    return _Ctx


@pytest.fixture
async def stack(make_stack, settings: Settings) -> AsyncIterator[Stack]:
    async with make_stack() as s:
        yield s
        keys = [k async for k in s.app.state.redis.scan_iter(match=f"{settings.queue_prefix}:login-fail:*")]
        if keys:
            await s.app.state.redis.delete(*keys)


@pytest.fixture
async def gateway(stack: Stack) -> httpx.AsyncClient:
    return stack.client
