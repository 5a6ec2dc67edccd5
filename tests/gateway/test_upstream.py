"""The gateway's own HTTP/1.1 connection pool, against real servers on real sockets."""

import asyncio
import hashlib

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.gateway.app import create as create_gateway
from shared.upstream import UpstreamTransport
from services.registry.app import create as create_registry
from shared.testing import app_client, auth, free_port
from tests.conftest import COUNTY
from tests.gateway.conftest import ADMIN, ADMIN_PASSWORD


async def _echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"port": request.client.port, "method": request.method, "length": len(body),
                         "sha256": hashlib.sha256(body).hexdigest(), "query": request.url.query,
                         "chunked": request.headers.get("transfer-encoding") == "chunked"})


async def _big(request: Request) -> Response:
    return Response(b"0123456789abcdef" * 131072, media_type="application/octet-stream")     # 2 MiB


async def _stream(request: Request) -> Response:
    async def parts():
        for i in range(50):
            yield f"line {i}\n".encode()
    return StreamingResponse(parts(), media_type="text/plain")                               # chunked


async def _slow(request: Request) -> Response:
    await asyncio.sleep(1.0)
    return Response("late")


async def _empty(request: Request) -> Response:
    return Response(status_code=204)


def _server_app() -> Starlette:
    return Starlette(routes=[Route("/echo", _echo, methods=["GET", "POST", "PUT", "HEAD"]), Route("/big", _big),
                             Route("/stream", _stream), Route("/slow", _slow), Route("/empty", _empty)])


class Served:
    def __init__(self, app, *, keep_alive: float = 5) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_keep_alive=keep_alive, lifespan="on"))

    async def __aenter__(self) -> "Served":
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.should_exit = True
        await self.task


@pytest.fixture
async def served():
    async with Served(_server_app(), keep_alive=1) as s:
        yield s


@pytest.fixture
async def client(served):
    async with httpx.AsyncClient(transport=UpstreamTransport(), base_url=served.url) as c:
        yield c


async def test_connections_are_kept_alive_and_reused(client):
    first = (await client.get("/echo")).json()
    second = (await client.get("/echo?x=1")).json()
    assert first["port"] == second["port"] and second["query"] == "x=1"
    both = await asyncio.gather(*(client.get("/echo") for _ in range(20)))
    assert all(r.status_code == 200 for r in both)
    again = await asyncio.gather(*(client.get("/echo") for _ in range(20)))
    assert {r.json()["port"] for r in again} <= {r.json()["port"] for r in both}     # no new connections


async def test_bodies_go_up_whole_or_streamed_and_come_back_whole_or_streamed(client):
    data = bytes(range(256)) * 1000
    r = (await client.post("/echo", content=data)).json()
    assert r["length"] == len(data) and r["sha256"] == hashlib.sha256(data).hexdigest() and not r["chunked"]

    async def parts():
        for i in range(0, len(data), 7000):
            yield data[i:i + 7000]
    r = (await client.post("/echo", content=parts())).json()
    assert r["length"] == len(data) and r["sha256"] == hashlib.sha256(data).hexdigest() and r["chunked"]
    big = await client.get("/big")
    assert big.content == b"0123456789abcdef" * 131072
    lines = await client.get("/stream")
    assert lines.text.splitlines()[-1] == "line 49"
    assert (await client.get("/echo")).status_code == 200          # still usable after all that


async def test_head_and_204_leave_the_connection_usable(client):
    port = (await client.get("/echo")).json()["port"]
    head = await client.head("/echo")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    assert (await client.get("/empty")).status_code == 204
    assert (await client.get("/echo")).json()["port"] == port


async def test_a_connection_the_server_dropped_is_replaced(client):
    port = (await client.get("/echo")).json()["port"]
    await asyncio.sleep(1.5)                                        # the server's keep-alive ran out
    r = await client.get("/echo")
    assert r.status_code == 200 and r.json()["port"] != port


async def test_an_answer_left_unread_does_not_poison_the_pool(client):
    async with client.stream("GET", "/big") as r:
        async for _ in r.aiter_raw():
            break
    assert (await client.get("/echo")).status_code == 200


async def test_timeouts_and_refusals_are_httpx_errors(client, served):
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/slow", timeout=httpx.Timeout(5, read=0.2))
    assert (await client.get("/echo")).status_code == 200
    async with httpx.AsyncClient(transport=UpstreamTransport()) as other:
        with pytest.raises(httpx.ConnectError):
            await other.get(f"http://127.0.0.1:{free_port()}/")


async def test_the_gateway_proxies_over_real_sockets(settings):
    """No injected transport: the gateway reaches a registry listening on a real port."""
    registry = create_registry(settings)
    async with Served(registry) as served:
        gw_settings = settings.model_copy(update={"admin_password": ADMIN_PASSWORD, "registry_url": served.url})
        async with app_client(create_gateway(gw_settings)) as gateway:
            r = await gateway.post("/api/v1/auth/token", data={"grant_type": "password", "username": ADMIN,
                                                                "password": ADMIN_PASSWORD})
            h = auth(r.json()["access_token"])
            created = await gateway.post("/api/v1/regions", headers=h, json={"code": COUNTY, "name": "贺兰县"})
            assert created.status_code == 201, created.text
            reads = await asyncio.gather(*(gateway.get(f"/api/v1/regions/{COUNTY}", headers=h) for _ in range(10)))
            assert all(r.status_code == 200 and r.json()["name"] == "贺兰县" for r in reads)
            assert (await gateway.get("/api/v1/regions/640122199000", headers=h)).status_code == 404
            spec = (await gateway.get("/openapi.json")).json()
            assert "/api/v1/regions" in spec["paths"]
    # the registry is gone now: a clean 503
    async with app_client(create_gateway(gw_settings)) as gateway:
        r = await gateway.get(f"/api/v1/regions/{COUNTY}", headers=h)
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"


async def test_an_idempotent_request_is_retried_when_a_reused_connection_dies_unanswered():
    """A server that answers one request per connection and drops the connection on the second, unanswered."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        served = 0
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            if served:
                writer.close()
                return
            served += 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with httpx.AsyncClient(transport=UpstreamTransport(), base_url=url) as c:
            assert (await c.get("/a")).text == "ok"
            assert (await c.get("/b")).text == "ok"          # retried on a fresh connection
            assert connections == 2
            with pytest.raises(httpx.RemoteProtocolError):
                await c.post("/c", content=b"x")             # not idempotent: never sent twice
            # the server read the POST and closed in order (as one killed while handling it would): it is
            # not sent again on a new connection
            assert connections == 2
    finally:
        server.close()
        await server.wait_closed()


async def test_a_connection_idle_longer_than_the_bound_is_not_reused():
    """Given up before the server's keep-alive timeout (here 5 s), however long the server would keep it."""
    async with Served(_server_app(), keep_alive=5) as served:
        async with httpx.AsyncClient(transport=UpstreamTransport(keepalive_expiry=0.3), base_url=served.url) as c:
            first = (await c.get("/echo")).json()["port"]
            assert (await c.get("/echo")).json()["port"] == first
            await asyncio.sleep(0.4)
            assert (await c.get("/echo")).json()["port"] != first
