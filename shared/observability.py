"""Request ids, access metrics and log formatting (pure ASGI middleware: cheap on hot paths)."""

from __future__ import annotations

import logging
import time
import uuid

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import context, i18n
from shared.problems import BadRequest, PayloadTooLarge, database_away, problem_response

MAX_BODY = 25 * 1024 * 1024
log = logging.getLogger("jingzhun.http")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.request_id.get() or "-"
        return True


def configure_logging(service: str, level: str = "info") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("jingzhun_http_requests_total", "HTTP requests", ["service", "method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("jingzhun_http_request_seconds", "HTTP request latency", ["service", "route"],
                                 registry=self.registry)
        self.service = service
        self._children: dict[tuple[str, str, int], tuple] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request: the labelled children looked up once per (method, route, status), not per request."""
        children = self._children.get((method, route, status))
        if children is None:
            children = (self.requests.labels(self.service, method, route, str(status)),
                        self.latency.labels(self.service, route))
            if len(self._children) < 10_000:          # hostile methods cannot grow it without bound
                self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def response(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestContextMiddleware:
    """Sets/propagates X-Request-ID, refuses oversized bodies and ambiguous credentials, records metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics, vocabulary: i18n.Vocabulary = i18n.SHARED) -> None:
        self.app, self.metrics, self.vocabulary = app, metrics, vocabulary

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = None
        length = 0
        authorizations = 0
        accept_language = None
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                rid = v.decode("latin-1")[:64]
            elif k == b"content-length":
                length = int(v) if v.isdigit() else 0
            elif k == b"authorization":
                authorizations += 1
            elif k == b"accept-language":
                accept_language = v.decode("latin-1")
        rid = rid or uuid.uuid4().hex
        token = context.request_id.set(rid)
        lang_token = i18n.language.set(i18n.negotiate(accept_language))
        vocab_token = i18n.vocabulary_var.set(self.vocabulary)
        start = time.perf_counter()
        status = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            if length > MAX_BODY:
                await problem_response(PayloadTooLarge(f"body exceeds {MAX_BODY // (1024 * 1024)} MB"))(
                    scope, receive, send_wrapper)
            elif authorizations > 1:     # the gateway and a service must never read different ones
                await problem_response(BadRequest("send one Authorization header, not several"))(
                    scope, receive, send_wrapper)
            else:
                try:
                    await self.app(scope, receive, send_wrapper)
                except Exception as exc:     # raw asyncpg paths and failed connects: the database is away, a 503
                    if (away := database_away(exc)) is None or started:
                        raise
                    log.warning("database unavailable on %s %s: %r", scope["method"], scope["path"], exc)
                    await problem_response(away)(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], path, status, time.perf_counter() - start)
            context.request_id.reset(token)
            i18n.language.reset(lang_token)
            i18n.vocabulary_var.reset(vocab_token)
