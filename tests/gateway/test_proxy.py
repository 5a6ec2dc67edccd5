"""Routing through the gateway to services running in-process."""

import hashlib
import json

import pytest
from jose import jwt as jose_jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.gateway.proxy import ROUTES, match
from shared.auth import announce_revoked
from shared.testing import auth, wait_until
from tests.conftest import COUNTY, TOWNSHIP


async def _echo(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
    if request.url.path == "/readyz":
        return JSONResponse({"status": "ready"})
    headers = {"ETag": '"3"', "Location": f"{request.base_url}api/v1/somewhere/1", "Retry-After": "7", "X-Request-ID": "upstream-id",
               "Content-Disposition": "attachment; filename=households.xlsx", "Keep-Alive": "timeout=5",
               "X-Upstream": "echo"}
    if request.url.path.endswith("/"):       # what a service's redirect_slashes answers
        return Response(status_code=307, headers={"Location": str(request.url.replace(path=request.url.path.rstrip("/")))})
    return JSONResponse({"method": request.method, "path": request.url.path,
                         "raw_path": request.scope["raw_path"].decode(), "query": request.url.query,
                         "headers": {k: v for k, v in request.headers.items()},
                         "length": len(body), "sha256": hashlib.sha256(body).hexdigest()},
                        status_code=202 if request.method == "POST" else 200, headers=headers)


def echo_app() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", _echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])])


def test_prefix_table_picks_the_longest_prefix_on_segment_boundaries():
    assert match("/api/v1/stats/regions/640122000000") == ("/api/v1/stats/regions", "registry")
    assert match("/api/v1/stats/loans") == ("/api/v1/stats/loans", "funds")
    assert match("/api/v1/stats/funds/640122000000") == ("/api/v1/stats/funds", "funds")
    assert match("/api/v1/me/notifications/5/read") == ("/api/v1/me/notifications", "notifications")
    assert match("/public") == ("/public", "funds") and match("/public/notices/3.html")[1] == "funds"
    assert match("/api/v1/bank/disbursements/1/results")[1] == "funds"
    assert match("/api/v1/banks") is None and match("/api/v1/regionsX") is None and match("/publicity") is None
    assert match("/api/v1/stats") is None and match("/internal/audit/verify") is None
    assert len(set(ROUTES.values())) == 3


async def test_registry_answers_through_the_gateway(stack):
    admin = await stack.bearer()
    r = await stack.client.post("/api/v1/regions", headers={**admin, "X-Request-ID": "trace-me-42"},
                                json={"code": COUNTY, "name": "贺兰县", "rural_population": 120000})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "贺兰县" and r.json()["level"] == "county"
    assert r.headers["etag"] == '"1"'
    assert r.headers.get_list("x-request-id") == ["trace-me-42"]
    got = await stack.client.get(f"/api/v1/regions/{COUNTY}", headers=admin)
    assert got.status_code == 200 and got.json()["rural_population"] == 120000
    forwarded = [c for c in stack.transport.calls if c.url.path == "/api/v1/regions"][0]
    assert forwarded.headers["x-request-id"] == "trace-me-42"
    # the registry's own 404 problem passes through untouched
    missing = await stack.client.get(f"/api/v1/regions/{TOWNSHIP}", headers=admin)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["title"] == "Not found"
    # so does a 409 and a 422
    dup = await stack.client.post("/api/v1/regions", headers=admin, json={"code": COUNTY, "name": "贺兰县"})
    assert dup.status_code == 409
    bad = await stack.client.post("/api/v1/regions", headers=admin, json={"code": "12", "name": ""})
    assert bad.status_code == 422 and bad.json()["errors"]


async def test_internal_endpoints_are_not_reachable_from_outside(stack, token):
    admin = await stack.bearer()
    for path in ("/internal/audit/verify", "/internal/audit/events", "/api/v1/regions/../../internal/audit/verify",
                 "/api/v1/regions/%2e%2e/%2e%2e/internal/audit/verify"):
        r = await stack.client.get(path, headers=admin)
        assert r.status_code == 404, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert (await stack.client.get("/internal/audit/verify")).status_code == 404
    # the services themselves (funds verifies every chain) call it with a service token
    svc = await stack.client.get("/internal/audit/verify", headers=auth(token("service", "", sub="svc:funds")))
    assert svc.status_code == 200 and svc.json()["ok"] is True


async def test_unknown_paths_are_404_and_nothing_is_forwarded(stack):
    admin = await stack.bearer()
    for path in ("/api/v1/nothing-here", "/api/v1/stats", "/api/v1/regionsX", "/api/v2/regions", "/api/v1/auth/nope"):
        r = await stack.client.get(path, headers=admin)
        assert r.status_code == 404, path
    assert [c for c in stack.transport.calls if c.url.path.startswith("/api/")] == []


async def test_headers_query_and_body_are_forwarded_and_answers_come_back(make_stack, settings):
    async with make_stack({"funds": echo_app()}) as stack:
        admin = await stack.bearer()
        r = await stack.client.post(
            "/api/v1/bank/loan-events?region=640122000000&q=%E7%8E%8B", content=b'{"event_id": "e1"}',
            headers={**admin, "Content-Type": "application/json", "Idempotency-Key": "k-1", "If-Match": '"2"',
                     "Accept": "application/json", "X-Forwarded-For": "203.0.113.9", "Connection": "keep-alive",
                     "X-Principal-Role": "county_admin", "Cookie": "a=b"})
        assert r.status_code == 202, r.text
        seen = r.json()
        assert seen["method"] == "POST" and seen["path"] == "/api/v1/bank/loan-events"
        assert seen["query"] == "region=640122000000&q=%E7%8E%8B"
        assert seen["length"] == 18
        h = seen["headers"]
        assert h["authorization"] == admin["Authorization"] and h["idempotency-key"] == "k-1"
        assert h["if-match"] == '"2"' and h["content-type"] == "application/json"
        assert h["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
        assert h["x-request-id"] == r.headers["x-request-id"]
        assert "x-principal-role" not in h and "cookie" not in h
        # answer headers come back, hop-by-hop ones do not, and the request id is the gateway's one
        assert r.headers["etag"] == '"3"' and r.headers["location"] == "/api/v1/somewhere/1"
        assert r.headers["retry-after"] == "7" and r.headers["x-upstream"] == "echo"
        assert r.headers["content-disposition"] == "attachment; filename=households.xlsx"
        assert "keep-alive" not in r.headers
        assert r.headers.get_list("x-request-id") == [h["x-request-id"]]
        # a service's redirect does not reveal where the service lives
        r = await stack.client.get("/api/v1/loans/?status=overdue", headers=admin)
        assert r.status_code == 307 and r.headers["location"] == "/api/v1/loans?status=overdue"


async def test_public_pages_need_no_token(make_stack):
    async with make_stack({"funds": echo_app()}) as stack:
        r = await stack.client.get("/public/notices/1.html")
        assert r.status_code == 200 and r.json()["path"] == "/public/notices/1.html"
        assert "authorization" not in r.json()["headers"]
        assert (await stack.client.get("/public")).json()["path"] == "/public"


async def test_uploads_are_streamed_and_bounded(make_stack):
    async with make_stack({"registry": echo_app()}, with_registry=False) as stack:
        admin = await stack.bearer()
        payload = bytes(range(256)) * 4096 * 8          # 8 MiB

        async def chunks(data: bytes, size: int = 256 * 1024):
            for i in range(0, len(data), size):
                yield data[i:i + size]

        r = await stack.client.post("/api/v1/imports/households", content=chunks(payload),
                                    headers={**admin, "Content-Type": "text/csv"})
        assert r.status_code == 202, r.text
        assert r.json()["length"] == len(payload) and r.json()["sha256"] == hashlib.sha256(payload).hexdigest()
        assert "content-length" not in r.json()["headers"]        # it went upstream chunked, as it came
        big = b"x" * (26 * 1024 * 1024)
        r = await stack.client.post("/api/v1/imports/households", content=chunks(big, 1024 * 1024),
                                    headers={**admin, "Content-Type": "text/csv"})
        assert r.status_code == 413
        r = await stack.client.post("/api/v1/imports/households", content=big, headers=admin)
        assert r.status_code == 413


async def test_a_service_that_is_down_is_a_503_problem(stack):
    admin = await stack.bearer()
    r = await stack.client.get("/api/v1/me/notifications", headers=admin)
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert "notifications" in r.json()["detail"]


async def test_the_gateway_stays_ready_while_a_service_is_down(make_stack):
    """A service down takes its own routes out (503 problems), never the gateway: sign-in and the other services
    go on. /readyz/services says which service is not ready (what `jingzhun up` waits for)."""
    async with make_stack() as stack:
        r = await stack.client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": "ok", "queue": "ok"}
        r = await stack.client.get("/readyz/services")
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
        checks = r.json()["checks"]
        assert checks["funds"].startswith("unreachable") and checks["notifications"].startswith("unreachable")
        assert checks["registry"] == "ok"
        assert (await stack.bearer())["Authorization"].startswith("Bearer ")     # signing in still works
    async with make_stack({"funds": echo_app(), "notifications": echo_app()}) as stack:
        r = await stack.client.get("/readyz/services")
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"funds": "ok", "notifications": "ok", "registry": "ok"}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_every_method_is_forwarded(make_stack, method):
    async with make_stack({"registry": echo_app()}, with_registry=False) as stack:
        admin = await stack.bearer()
        r = await stack.client.request(method, "/api/v1/households/5", headers=admin,
                                       content=json.dumps({"a": 1}) if method != "DELETE" else None)
        assert r.status_code == 200 and r.json()["method"] == method


async def _raw_get(app, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One request straight into the ASGI app, path bytes untouched (httpx would normalise dot segments)."""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 5000), "server": ("test", 80)}
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_dot_segments_cannot_climb_out_of_a_prefix(stack, token):
    svc = {"Authorization": f"Bearer {token('service', '', sub='svc:funds')}"}
    for path in ("/api/v1/regions/../../internal/audit/verify", "/api/v1/regions/./x", "/public/../internal/x"):
        status, body = await _raw_get(stack.app, path, svc)
        assert status == 404, (path, body)
    assert [c for c in stack.transport.calls if "internal" in c.url.path or "/x" in c.url.path] == []


async def test_the_gateway_itself_refuses_a_revoked_token_on_its_next_request(stack):
    tokens = await stack.login()
    h = auth(tokens["access_token"])
    assert (await stack.client.get(f"/api/v1/regions/{COUNTY}", headers=h)).status_code == 404   # cached now
    jti = jose_jwt.get_unverified_claims(tokens["access_token"])["jti"]
    await announce_revoked(stack.app.state.redis, [(jti, 600)])      # another gateway worker's logout

    async def known() -> bool:
        return jti in stack.app.state.revoked
    assert await wait_until(known, timeout=3)
    forwarded = len(stack.transport.calls)
    r = await stack.client.get(f"/api/v1/regions/{COUNTY}", headers=h)
    assert r.status_code == 401 and r.json()["detail"] == "Token has been revoked"
    assert len(stack.transport.calls) == forwarded          # refused at the gateway, never forwarded
