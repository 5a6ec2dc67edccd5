"""Gateway: identity (users, bank clients, tokens, revocation), routing to the services, merged docs."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.middleware import Middleware
from starlette.routing import Route

from services.gateway import bootstrap, glossary
from services.gateway.banks.router import router as banks_router
from services.gateway.dashboard.router import router as dashboard_router
from services.gateway.openapi import MergedOpenAPI
from services.gateway.proxy import ROUTES, Proxy, ProxyPath
from services.gateway.tokens.ratelimit import LoginLimiter
from services.gateway.tokens.revocation import Mirror
from services.gateway.tokens.router import internal_router as revocations_router
from services.gateway.tokens.router import router as tokens_router
from services.gateway.users.router import internal_router as users_internal_router
from shared.upstream import UpstreamTransport
from services.gateway.users.router import router as users_router
from shared import audit
from shared.app import create_app
from shared.auth import Principal, authenticate, oauth2
from shared.http import ServiceClient
from shared.i18n import Vocabulary
from shared.jwt import KeyPair
from shared.problems import NotFound, Problem, ServiceUnavailable, problem_response
from shared.settings import Settings, get_settings

UPSTREAMS = tuple(sorted(set(ROUTES.values())))
READY_TIMEOUT = httpx.Timeout(3.0, connect=1.0)


async def _service_or_404(request: Request, token: str | None = Depends(oauth2)) -> Principal:
    """``/internal/*`` exists only for service tokens: anyone else gets 404, as for any unknown path."""
    try:
        principal = await authenticate(request, token)
    except Problem:
        principal = None
    if principal is None or not principal.is_service:
        raise NotFound("No such resource")
    return principal


def internal_routes() -> APIRouter:
    router = APIRouter(dependencies=[Depends(_service_or_404)], include_in_schema=False)
    for sub in (revocations_router, users_internal_router, audit.internal_router()):
        router.include_router(sub)
    return router


def create(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None,
           keys: KeyPair | None = None) -> FastAPI:
    """The gateway app. ``transport`` (e.g. routing to in-process ASGI apps) replaces the network for every
    call the gateway makes to the services: proxying, readiness, OpenAPI, internal calls."""
    settings = settings or get_settings()

    async def _http(app: FastAPI) -> None:
        # One connection pool for the whole process, sized for proxying (or the injected transport), under
        # the one client every gateway call uses; the proxy hands requests to the pool directly.
        default = app.state.http
        app.state.http_pool = app.state.http_transport or UpstreamTransport()
        app.state.http = httpx.AsyncClient(transport=app.state.http_pool, trust_env=False,
                                           timeout=httpx.Timeout(10.0, connect=2.0))
        await default.aclose()
        app.state.services = ServiceClient(settings=settings, client=app.state.http, signer=app.state.signer,
                                           service="gateway")

    async def _identity(app: FastAPI) -> None:
        app.state.login_limiter = LoginLimiter(redis=app.state.redis, prefix=settings.queue_prefix)
        mirror = Mirror(redis=app.state.redis, sessionmaker=app.state.db.sessionmaker, local=app.state.revoked)
        mirror.listeners.append(app.state.proxy.tokens.clear)
        app.state.revocations = mirror
        app.state.revocation_fallback = mirror.fallback()
        await bootstrap.ensure_admin(app)
        await mirror.resync()
        app.state.tasks = [asyncio.create_task(mirror.run()), asyncio.create_task(app.state.openapi.warm())]

    async def _stop(app: FastAPI) -> None:
        for task in getattr(app.state, "tasks", []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    proxy = Proxy(settings)
    app = create_app(service="gateway", title="Jingzhun 精准扶贫 API",
                     description="One entry point: identity here, households (registry), funds and 公示 (funds), "
                                 "notifications. Sign in with **Authorize** (username and password).\n\n"
                                 "错误（problem）默认用中文说明，字段附中文名（`errors[].field_label`）；"
                                 "请求头 `Accept-Language: en` 则用英文。 Problems answer in Chinese unless "
                                 "`Accept-Language` asks for English.",
                     settings=settings, keys=keys,
                     routers=[tokens_router, users_router, banks_router, internal_routes(), dashboard_router],
                     on_startup=[_http, _identity], on_shutdown=[_stop],
                     fast_paths=[Middleware(ProxyPath, proxy=proxy)],
                     vocabulary=Vocabulary(glossary.FIELD_LABELS, glossary.MESSAGES_ZH, glossary.PATTERNS_ZH))
    app.state.http_transport = transport
    app.state.proxy = proxy
    app.state.openapi = MergedOpenAPI(app)

    @app.get("/readyz/services", include_in_schema=False)
    async def services_ready() -> Any:
        """Every service behind the gateway, each by its own /readyz: what `jingzhun up` waits for and what an
        operator looks at. The gateway's own /readyz does not depend on them: with one service down the gateway
        still signs people in and proxies to the others (that service's routes answer 503 problems)."""
        async def ready(service: str) -> str:
            url = settings.service_url(service).rstrip("/") + "/readyz"
            try:
                resp = await app.state.http.get(url, timeout=READY_TIMEOUT)
            except httpx.HTTPError as exc:
                return f"unreachable ({type(exc).__name__})"
            return "ok" if resp.status_code == 200 else f"not ready ({resp.status_code})"

        checks = dict(zip(UPSTREAMS, await asyncio.gather(*(ready(s) for s in UPSTREAMS)), strict=True))
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "service": "gateway", "checks": checks}
        return problem_response(ServiceUnavailable("a service is not ready", checks=checks))
    # /openapi.json: the merged document instead of the gateway's own.
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != app.openapi_url]
    app.router.routes.insert(0, Route(app.openapi_url, app.state.openapi.endpoint, include_in_schema=False))
    return app
