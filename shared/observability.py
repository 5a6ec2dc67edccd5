"""Request ids, access metrics and log formatting (pure ASGI middleware: cheap on hot paths)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import context, i18n
from shared.problems import BadRequest, PayloadTooLarge, database_away, problem_response

MAX_BODY = 25 * 1024 * 1024
log = logging.getLogger("jingzhun.http")
# A source of figures read at scrape time (outbox backlog, queue depth, counters kept by the workers...): given the
# app, returns its metric families; one that fails or is slow is left out of that scrape, the rest are served.
Source = Callable[[Any], Awaitable[Iterable[Metric]]]
SOURCE_TIMEOUT = 2.0


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC), ``service``, ``level``, ``logger``, ``request_id``, ``msg`` and
    ``exc`` (the traceback) when there is one; for a log collector rather than a person."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "service": self.service, "level": record.levelname.lower(), "logger": record.name,
               "request_id": getattr(record, "request_id", "-"), "msg": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def text_format(service: str) -> str:
    return f"%(asctime)s {service} %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def structured(log_format: str, stream) -> bool:
    """JSON lines for ``log_format`` "json", or "auto" on a stream that is not a terminal."""
    return log_format == "json" or (log_format != "text" and not is_terminal(stream))


def configure_logging(service: str, level: str = "info", *, log_format: str = "auto", stream=None) -> None:
    """Everything through one handler on ``stream`` (stderr): a line for a person on a terminal, a JSON object per
    line (:class:`JsonFormatter`) otherwise (``log_format`` decides when not "auto")."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter(service) if structured(log_format, stream)
                         else logging.Formatter(text_format(service)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def logging_config(service: str, level: str, *, json_lines: bool) -> dict:
    """:func:`configure_logging` as a ``logging.config.dictConfig`` (uvicorn's ``--log-config``): the root and
    uvicorn's own loggers through one stderr handler (uvicorn's ``--log-level`` sets its own loggers' level)."""
    formatter = ({"()": "shared.observability.JsonFormatter", "service": service} if json_lines
                 else {"format": text_format(service)})
    return {"version": 1, "disable_existing_loggers": False,
            "filters": {"request_id": {"()": "shared.observability.RequestIdFilter"}},
            "formatters": {"default": formatter},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                    "formatter": "default", "filters": ["request_id"]}},
            "root": {"level": level.upper(), "handlers": ["stderr"]},
            "loggers": {"uvicorn": {"handlers": [], "propagate": True},
                        "uvicorn.error": {"handlers": [], "propagate": True},
                        "uvicorn.access": {"handlers": [], "propagate": True}}}


class Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("jingzhun_http_requests_total", "HTTP requests", ["service", "method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("jingzhun_http_request_seconds", "HTTP request latency", ["service", "route"],
                                 registry=self.registry)
        self.service = service
        self.sources: dict[str, Source] = {}
        self._scraped = _Scraped()
        self.registry.register(self._scraped)
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

    def add_source(self, name: str, source: Source) -> None:
        self.sources[name] = source

    async def response(self, app: Any = None) -> Response:
        """The HTTP figures and those the sources read now (all at once: a scrape waits for the slowest)."""
        names = list(self.sources)
        results = await asyncio.gather(*(self._read(name, app) for name in names))
        up = GaugeMetricFamily("jingzhun_metrics_source_up", "1 when the source answered this scrape, else 0",
                               labels=["service", "source"])
        families: list[Metric] = [up]
        for name, result in zip(names, results, strict=True):
            up.add_metric([self.service, name], 0.0 if result is None else 1.0)
            families.extend(result or ())
        self._scraped.families = families         # no await between this and the rendering: scrapes cannot mix
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def _read(self, name: str, app: Any) -> list[Metric] | None:
        try:
            return list(await asyncio.wait_for(self.sources[name](app), SOURCE_TIMEOUT))
        except Exception as exc:  # noqa: BLE001 - the other figures are still served
            log.warning("/metrics: %s unavailable (%s: %s)", name, type(exc).__name__, exc)
            return None


class _Scraped(Collector):
    """Yields the families the sources read for the scrape being rendered."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)

    def describe(self) -> Iterator[Metric]:
        return iter(())


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
