"""The routing table and the reverse proxy: ``/api/v1/*`` and ``/public*`` go to the services.

A pure-ASGI fast path (``ProxyPath``) in front of the gateway's routing, inside the request-id and metrics
middleware: the caller's token is checked here first (not for ``/public``), then method, path, query, the
forwarded headers and the body (buffered up to 1 MiB, streamed beyond) go upstream over the process's
connection pool (``UpstreamTransport``, written as raw HTTP/1.1 without httpx Request/Response objects; any
other transport gets an ``httpx.Request``); status, headers and body come back unchanged except hop-by-hop
headers. Paths the table does not route (``/internal/*`` included) are the gateway's own, or 404.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.upstream import Answer, UpstreamTransport
from shared import context
from shared.auth import Principal, is_revoked_in, principal_from_claims
from shared.jwt import InvalidToken
from shared.observability import MAX_BODY
from shared.problems import PayloadTooLarge, Problem, ServiceUnavailable, Unauthorized, problem_response
from shared.settings import Settings

log = logging.getLogger("jingzhun.gateway.proxy")

# Path prefix -> service. Longest prefix wins, on path-segment boundaries.
ROUTES: dict[str, str] = {
    "/api/v1/regions": "registry",
    "/api/v1/poverty-lines": "registry",
    "/api/v1/households": "registry",
    "/api/v1/persons": "registry",
    "/api/v1/stats/regions": "registry",
    "/api/v1/monitoring": "registry",
    "/api/v1/stats/monitoring": "registry",
    "/public/monitoring": "registry",
    "/api/v1/imports": "registry",
    "/api/v1/jobs": "registry",
    "/api/v1/exports": "registry",
    "/api/v1/exports/ledger.xlsx": "funds",
    "/api/v1/fund-sources": "funds",
    "/api/v1/allocations": "funds",
    "/api/v1/adjustments": "funds",
    "/api/v1/projects": "funds",
    "/api/v1/disbursements": "funds",
    "/api/v1/bank": "funds",
    "/api/v1/loans": "funds",
    "/api/v1/stats/loans": "funds",
    "/api/v1/stats/funds": "funds",
    "/api/v1/risk-claims": "funds",
    "/api/v1/notices": "funds",
    "/api/v1/objections": "funds",
    "/api/v1/audit": "funds",
    "/api/v1/alerts": "funds",
    "/public": "funds",
    "/api/v1/me/notifications": "notifications",
    "/api/v1/notifications": "notifications",
    "/api/v1/dead-letters/registry": "registry",
    "/api/v1/dead-letters/funds": "funds",
    "/api/v1/dead-letters/notifications": "notifications",
}

TIMEOUT = httpx.Timeout(connect=2.0, read=120.0, write=120.0, pool=10.0)
TIMEOUT_EXTENSION = TIMEOUT.as_dict()
LEEWAY = 10                       # seconds of clock skew, as the verifier allows
BUFFER_LIMIT = 1024 * 1024        # bodies up to this size are read at once; larger ones are streamed

FORWARDED = frozenset({b"authorization", b"content-type", b"content-length", b"idempotency-key", b"if-match",
                       b"if-none-match", b"if-modified-since", b"accept", b"accept-language", b"user-agent",
                       b"range"})
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
                        b"trailer", b"trailers", b"transfer-encoding", b"upgrade"})
# The gateway's own server and request-id middleware set these again.
NOT_RETURNED = HOP_BY_HOP | {b"x-request-id", b"date", b"server"}
NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def match(path: str, routes: dict[str, str] = ROUTES) -> tuple[str, str] | None:
    """(prefix, service) for ``path``: the longest prefix ending on a segment boundary, or None."""
    candidate = path
    while candidate:
        service = routes.get(candidate)
        if service is not None:
            return candidate, service
        candidate = candidate[:candidate.rfind("/")]
    return None


def _unsafe(path: str) -> bool:
    """Dot segments could climb out of a prefix once normalised upstream (e.g. into /internal)."""
    if "\x00" in path:
        return True
    if "/." in path:
        segments = path.split("/")
        return "." in segments or ".." in segments
    return False


class _RouteLabel:
    """Stands in for ``scope["route"]`` so metrics are labelled by routing prefix."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class _TooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class TokenCache:
    """Verified tokens -> Principal (expiry re-checked on every hit, bounded), so a client's repeated token costs
    a dict lookup; revocation is checked on every request (the in-process revoked set, see shared.auth)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: dict[str, Principal] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def authenticate(self, scope: Scope, authorization: bytes | None) -> Problem | None:
        token = None
        if authorization:
            scheme, _, param = authorization.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                token = param.strip() or None
        if not token:
            return Unauthorized("Bearer token required")
        state = scope["app"].state
        principal = self._entries.get(token)
        if principal is None or principal.exp + LEEWAY < time.time():
            try:
                principal = principal_from_claims(state.verifier.verify(token))
            except InvalidToken:
                self._entries.pop(token, None)
                return Unauthorized("Token is invalid or expired")
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[token] = principal
        try:
            if await is_revoked_in(state, principal.jti):
                self._entries.pop(token, None)
                return Unauthorized("Token has been revoked")
        except Problem as problem:
            return problem
        return None


class Proxy:
    """Answers exactly the paths the prefix table routes, as a pure-ASGI fast path in front of the gateway's
    middleware and routing (``ProxyPath``); everything else goes on to the gateway's routes and its 404/405."""

    def __init__(self, settings: Settings, routes: dict[str, str] = ROUTES) -> None:
        self.routes = routes
        self.bases = {s: settings.service_url(s).rstrip("/").encode() for s in set(routes.values())}
        # (host, port) and Host header per service for the raw path over UpstreamTransport (plain http only)
        self.origins: dict[str, tuple[tuple[str, int], bytes] | None] = {}
        for service, base in self.bases.items():
            url = httpx.URL(base.decode())
            self.origins[service] = ((url.host, url.port or 80), url.netloc) if url.scheme == "http" else None
        self.labels = {p: _RouteLabel(f"proxy:{p}") for p in routes}
        self.tokens = TokenCache()

    def route_of(self, scope: Scope) -> tuple[str, str] | None:
        if scope["type"] != "http":
            return None
        path = scope["path"]
        return None if _unsafe(path) else match(path, self.routes)

    async def handle(self, scope: Scope, receive: Receive, send: Send, found: tuple[str, str]) -> None:
        prefix, service = found
        scope["route"] = self.labels[prefix]

        headers: list[tuple[bytes, bytes]] = []
        authorization = forwarded_for = accept_encoding = None
        length = -1
        chunked = False
        for key, value in scope["headers"]:
            if key in FORWARDED:
                headers.append((key, value))
                if key == b"authorization":
                    authorization = value
                elif key == b"content-length":
                    length = int(value) if value.isdigit() else -1
            elif key == b"x-forwarded-for":
                forwarded_for = value
            elif key == b"accept-encoding":
                accept_encoding = value
            elif key == b"transfer-encoding":
                chunked = True

        if prefix != "/public" and not prefix.startswith("/public/"):    # the public board, 一码申报: no login
            problem = await self.tokens.authenticate(scope, authorization)
            if problem is not None:
                return await problem_response(problem)(scope, receive, send)

        if rid := context.request_id.get():
            headers.append((b"x-request-id", rid.encode("latin-1")))
        client = scope.get("client")
        if client:
            ip = client[0].encode("latin-1")
            headers.append((b"x-forwarded-for", forwarded_for + b", " + ip if forwarded_for else ip))
        elif forwarded_for:
            headers.append((b"x-forwarded-for", forwarded_for))
        # Bytes are passed through as they come: ask upstream only for encodings the caller accepts.
        headers.append((b"accept-encoding", accept_encoding or b"identity"))

        target = scope.get("raw_path") or scope["path"].encode()
        if query := scope.get("query_string"):
            target += b"?" + query

        method: str = scope["method"]
        pool: httpx.AsyncBaseTransport = scope["app"].state.http_pool
        origin = self.origins[service]
        try:
            if length == 0 or (length < 0 and not chunked and method in NO_BODY):
                content: Any = None
            elif 0 < length <= BUFFER_LIMIT:
                content = await _read_body(receive)
            else:
                content = _stream_body(receive)
            if origin is not None and isinstance(pool, UpstreamTransport):
                answer = await _exchange(pool, origin, method, target, headers, content)
                status, answer_headers, stream, close = answer.status, answer.headers, answer, answer.aclose
            else:
                # Any other transport (e.g. in-process apps in tests): the same request as an httpx.Request,
                # straight to the transport (no cookies, redirects or auth flows for a request only passed on).
                request = httpx.Request(method, (self.bases[service] + target).decode("latin-1"), headers=headers,
                                        content=content, extensions={"timeout": TIMEOUT_EXTENSION})
                response = await pool.handle_async_request(request)
                status, answer_headers, close = response.status_code, response.headers.raw, response.aclose
                stream = _Read(response.content) if response.is_stream_consumed else response.aiter_raw()
        except _ClientGone:
            return
        except _TooLarge:
            return await problem_response(PayloadTooLarge(f"body exceeds {MAX_BODY // (1024 * 1024)} MB"))(
                scope, receive, send)
        except httpx.TimeoutException:
            log.warning("%s did not answer %s %s in time", service, method, scope["path"])
            return await problem_response(ServiceUnavailable(f"The {service} service did not answer in time",
                                                             service=service))(scope, receive, send)
        except httpx.HTTPError as exc:
            log.warning("%s unreachable for %s %s: %s", service, method, scope["path"], exc)
            return await problem_response(ServiceUnavailable(f"The {service} service is unavailable",
                                                             service=service))(scope, receive, send)

        try:
            out = [(k.lower(), v) for k, v in answer_headers if k.lower() not in NOT_RETURNED]
            out = self._relative_location(out, service)
            await send({"type": "http.response.start", "status": status, "headers": out})
            pending: bytes | None = None
            async for chunk in stream:
                if pending:
                    await send({"type": "http.response.body", "body": pending, "more_body": True})
                pending = chunk
            await send({"type": "http.response.body", "body": pending or b"", "more_body": False})
        finally:
            await close()

    def _relative_location(self, headers: list[tuple[bytes, bytes]], service: str) -> list[tuple[bytes, bytes]]:
        """A service's absolute ``Location`` names its internal address: make it relative to the gateway."""
        base = self.bases[service]
        return [(k, v[len(base):] or b"/") if k == b"location" and v.startswith(base) else (k, v) for k, v in headers]


class ProxyPath:
    """The pure-ASGI fast path: proxied paths are answered by ``proxy`` before any routing."""

    def __init__(self, app: ASGIApp, proxy: Proxy) -> None:
        self.app, self.proxy = app, proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.proxy.route_of(scope)
        if found is None:
            return await self.app(scope, receive, send)
        await self.proxy.handle(scope, receive, send, found)


async def _exchange(pool: UpstreamTransport, origin: tuple[tuple[str, int], bytes], method: str, target: bytes,
                    headers: list[tuple[bytes, bytes]], content: bytes | AsyncIterator[bytes] | None) -> Answer:
    """What ``httpx.Request(...)`` would send, without building it: Host first, then the headers as given, and
    the framing httpx adds (chunked for a stream of unknown length, ``Content-Length: 0`` for an empty POST,
    PUT or PATCH)."""
    (host_port, host) = origin
    framed = any(k == b"content-length" for k, _ in headers)
    chunked = False
    if isinstance(content, bytes) and not framed:
        headers.append((b"content-length", b"%d" % len(content)))
    elif content is not None and not isinstance(content, bytes) and not framed:
        headers.append((b"transfer-encoding", b"chunked"))
        chunked = True
    elif content is None and not framed and method in ("POST", "PUT", "PATCH"):
        headers.append((b"content-length", b"0"))
    return await pool.exchange(host_port, method.encode("ascii"), target, [(b"host", host), *headers], content,
                               chunked=chunked, timeouts=TIMEOUT_EXTENSION)


class _Read:
    """An answer a transport has already read, as a one-chunk stream."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self):
        yield self.body


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _stream_body(receive: Receive):
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        body = message.get("body", b"")
        size += len(body)
        if size > MAX_BODY:
            raise _TooLarge
        more = message.get("more_body", False)
        if body:
            yield body
