"""The FastAPI factory every service uses: problems, request ids, metrics, health, auth state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import httpx
import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI
from starlette.middleware import Middleware

from shared import auth as auth_module
from shared import dead_letters as dead_letters_module
from shared import i18n
from shared import metrics as scraped
from shared.auth import RevokedSet
from shared.db import Database
from shared.docs import describe_enums, enum_labels, install_docs
from shared.http import ServiceClient
from shared.jwt import KeyPair, Signer, Verifier
from shared.observability import Metrics, RequestContextMiddleware, configure_logging
from shared.problems import ServiceUnavailable, document_problems, install_problem_handlers, problem_response
from shared.queue import redis_url
from shared.settings import Settings, get_settings

Hook = Callable[[FastAPI], Awaitable[None]]


def create_app(*, service: str, title: str, routers: Sequence[APIRouter], description: str = "",
               settings: Settings | None = None, on_startup: Sequence[Hook] = (),
               on_shutdown: Sequence[Hook] = (), readiness: Sequence[Hook] = (),
               keys: KeyPair | None = None, fast_paths: Sequence[Middleware] = (),
               counters: Mapping[str, str] | None = None, vocabulary: i18n.Vocabulary | None = None,
               glossaries: Sequence[ModuleType] = (), docs: bool | None = None) -> FastAPI:
    """``fast_paths``: pure-ASGI handlers for hot paths, run inside the request-id and metrics middleware and
    before FastAPI's exception handling and routing; each answers its own requests or passes them on.
    ``counters``: the service's own counters its workers keep for ``/metrics`` (name → help, ``shared.metrics``).
    ``vocabulary``: the service's field labels and the Chinese for its messages (problems answer in Chinese
    unless ``Accept-Language`` prefers English; see ``shared.i18n``). ``glossaries``: modules whose code sets'
    labels are written into the OpenAPI enums. ``docs``: serve ``/docs`` (offline Swagger UI; default: the
    gateway only, whose document is the merged one)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(settings, service)
        app.state.redis = aioredis.from_url(redis_url(settings), socket_connect_timeout=2, socket_timeout=5)
        app.state.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=100, max_keepalive_connections=50))
        app.state.services = ServiceClient(settings=settings, client=app.state.http, signer=app.state.signer,
                                           service=service)
        if service != "gateway":
            app.state.revocation_fallback = _ask_gateway(app)
        app.state.revoked = RevokedSet(app.state.redis)
        app.state.revoked.start()
        for hook in on_startup:
            await hook(app)
        try:
            yield
        finally:
            await app.state.revoked.stop()
            for hook in on_shutdown:
                await hook(app)
            await app.state.http.aclose()
            await app.state.redis.aclose()
            await app.state.db.close()

    # No native OpenTelemetry (metrics are Prometheus, below): FastAPI then skips its per-request provider checks.
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    keys = keys or KeyPair.for_settings(settings)
    app.state.settings = settings
    app.state.service = service
    app.state.keys = keys
    app.state.verifier = Verifier(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    app.state.signer = Signer(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    metrics = Metrics(service)
    app.state.metrics = metrics
    # the gateway has no outbox and no worker; every service has its audit chain
    scraped.install(metrics, service, outbox=service != "gateway", worker=service != "gateway", counters=counters)
    install_problem_handlers(app)
    if docs if docs is not None else service == "gateway":
        install_docs(app)
    for fast in reversed(fast_paths):          # add_middleware puts each outside the previous one
        app.add_middleware(fast.cls, *fast.args, **fast.kwargs)
    app.add_middleware(RequestContextMiddleware, metrics=metrics,
                       vocabulary=i18n.SHARED.merged(vocabulary) if vocabulary else i18n.SHARED)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Any:
        checks: dict[str, str] = {}
        try:
            await app.state.db.ping()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            await app.state.redis.ping()
            checks["queue"] = "ok"
        except Exception as exc:
            checks["queue"] = f"error: {type(exc).__name__}"
        for hook in readiness:
            name = getattr(hook, "__name__", "dependency").lstrip("_")
            try:
                await hook(app)
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {exc}"
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "service": service, "checks": checks}
        return problem_response(ServiceUnavailable("not ready", checks=checks))

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint():
        return await metrics.response(app)

    for router in routers:
        app.include_router(router)
    _document_problems(app, enum_labels(auth_module, dead_letters_module, *glossaries))
    # The service's routers first: their requests are matched without trying the OpenAPI and health routes.
    app.router.routes.sort(key=lambda route: getattr(route, "path", None) is not None)
    return app


def _document_problems(app: FastAPI, labels: dict[str, dict[str, str]]) -> None:
    """``/openapi.json`` documents the problems as the handlers serve them (``shared.problems.document_problems``)
    and each enum's Chinese labels (``shared.docs.describe_enums``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_enums(document_problems(generate()), labels)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _ask_gateway(app: FastAPI) -> Callable[[str], Awaitable[bool]]:
    """When Redis is away, the gateway (which keeps revocations in its database) answers instead."""

    async def revoked(jti: str) -> bool:
        answer = await app.state.services.request("GET", "gateway", f"/internal/revocations/{jti}")
        return bool(answer["revoked"])

    return revoked


def run_logging(service: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging(service, settings.log_level, log_format=settings.log_format)

