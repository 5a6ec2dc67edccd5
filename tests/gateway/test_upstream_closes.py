"""The gateway's connection pool when a server closes a kept-alive connection: never at the next request's cost."""

import asyncio
import threading
import time

import httpx
import pytest
import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.gateway.app import create as create_gateway
from shared.upstream import UpstreamTransport
from shared.testing import app_client, auth, free_port
from tests.gateway.conftest import ADMIN, ADMIN_PASSWORD


# --- A server closing a kept-alive connection must never cost the next, unrelated request its answer.
# The upstream runs on its own thread and event loop, so its closes race the pool as another process's would.


class ThreadServed:
    """A uvicorn (uvloop, as `jingzhun up` runs the services) on its own thread."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ThreadServed":
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join()


class RawServer:
    """An asyncio server on its own thread: ``handle(reader, writer, read_request)`` per connection, where
    ``read_request()`` is the next request as (method, path, body), or None at the end of the stream. Keeps
    every request it read, in order."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.requests: list[tuple[str, str, bytes]] = []
        self.loop = asyncio.new_event_loop()
        self.tasks: set[asyncio.Task] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tasks.add(asyncio.current_task())

        async def read_request() -> tuple[str, str, bytes] | None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ")
            length = next((int(v) for k, _, v in (line.partition(":") for line in lines[1:])
                           if k.lower() == "content-length"), 0)
            request = (method, path, await reader.readexactly(length))
            self.requests.append(request)
            return request
        try:
            await self.handle(reader, writer, read_request)
        except ConnectionError:
            pass
        finally:
            writer.close()
            self.tasks.discard(asyncio.current_task())

    def __enter__(self) -> "RawServer":
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._serve, "127.0.0.1", 0),
                                                       self.loop).result()
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(self, *exc) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def _answer(status: str, body: bytes, *extra: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return b"".join([version, b" ", status.encode(), b"\r\ncontent-length: %d\r\n" % len(body),
                     *(h + b"\r\n" for h in extra), b"\r\n", body])


async def _posts(url: str, count: int, *, first: str, pause: float = 0.0) -> list[int | str]:
    """``count`` times: a request to ``first`` (GET), then after ``pause`` (the pool's event loop busy, so it
    has not seen what the server did meanwhile) the next caller's POST /pay with body i. What each POST got:
    its status, or the error the pool raised."""
    got: list[int | str] = []
    async with httpx.AsyncClient(transport=UpstreamTransport(), base_url=url) as client:
        for i in range(count):
            await client.get(first)
            time.sleep(pause)
            try:
                r = await client.post("/pay", content=str(i).encode())
                got.append(r.status_code if r.content == b"paid %d" % i else f"{r.status_code} {r.text}")
            except httpx.HTTPError as exc:
                got.append(f"{type(exc).__name__}: {exc}")
    return got


def _server(answer: bytes, close: str) -> RawServer:
    """Answers POST /pay on a kept-alive connection with "paid <body>". Answers any GET with ``answer``, and
    then closes the connection: "busy" -- 50 ms later with its event loop blocked meanwhile (as uvicorn's is
    while it logs an error), without reading what arrived; "later" -- 50 ms later, its loop running; "idle"
    -- 10 ms later, as a short keep-alive timeout would (in order, nothing unread)."""
    async def handle(reader, writer, read_request):
        while (request := await read_request()) is not None:
            method, _, body = request
            if method == "POST":
                writer.write(_answer("200 OK", b"paid " + body))
                continue
            writer.write(answer)
            await writer.drain()
            if close == "busy":
                time.sleep(0.05)
            else:
                await asyncio.sleep(0.05 if close == "later" else 0.01)
            return
    return RawServer(handle)


CLOSES = {
    # uvicorn after an exception in the app, once Starlette's error middleware sent the 500
    "a 500 then a close without a word": (_answer("500 Internal Server Error", b"boom"), "busy", 0.0),
    "a 500 then a close without a word, not busy": (_answer("500 Internal Server Error", b"boom"), "later", 0.0),
    # uvicorn when a background task fails after a complete answer
    "a 200 then a close without a word": (_answer("200 OK", b"ok"), "busy", 0.0),
    "a 500 with Connection: close": (_answer("500 Internal Server Error", b"boom", b"connection: close"),
                                     "later", 0.0),
    "an HTTP/1.0 answer without keep-alive": (_answer("200 OK", b"ok", version=b"HTTP/1.0"), "later", 0.0),
    # the server's keep-alive timeout ran out while the gateway's loop was busy: it has not seen the close
    "an idle connection the server closed": (_answer("200 OK", b"ok"), "idle", 0.05),
}
LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("case", CLOSES)
def test_a_connection_the_server_closes_never_costs_the_next_post_its_answer(case, loop):
    answer, close, pause = CLOSES[case]
    with _server(answer, close) as server:
        with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
            got = runner.run(_posts(server.url, 20, first="/before", pause=pause))
    assert got == [200] * 20
    posts = [body for method, _, body in server.requests if method == "POST"]
    assert posts == [str(i).encode() for i in range(20)]          # each POST handled once: none lost, none twice


def _failing_app() -> tuple[Starlette, list[bytes]]:
    """GET /boom raises (Starlette's error middleware answers 500, then uvicorn closes the connection without
    a word); POST /pay answers "paid <body>". Keeps the bodies of the POSTs it handled."""
    paid: list[bytes] = []

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    async def pay(request: Request) -> Response:
        body = await request.body()
        paid.append(body)
        return Response(b"paid " + body)
    return Starlette(routes=[Route("/boom", boom), Route("/pay", pay, methods=["POST"])]), paid


async def test_after_a_500_from_uvicorn_the_next_post_gets_its_own_answer():
    app, paid = _failing_app()
    with ThreadServed(app) as served:
        got = await _posts(served.url, 20, first="/boom")
    assert got == [200] * 20
    assert paid == [str(i).encode() for i in range(20)]


async def test_through_the_gateway_a_500_costs_no_other_caller_its_answer(settings):
    """The issue's report: after a service's 500, the next, unrelated POST through the gateway got 503."""
    created: list[str] = []

    async def regions(request: Request) -> Response:
        name = (await request.json())["name"]
        if name == "boom":
            raise RuntimeError("boom")
        created.append(name)
        return JSONResponse({"name": name}, status_code=201)
    registry = Starlette(routes=[Route("/api/v1/regions", regions, methods=["POST"])])
    with ThreadServed(registry) as served:
        gw_settings = settings.model_copy(update={"admin_password": ADMIN_PASSWORD, "registry_url": served.url})
        async with app_client(create_gateway(gw_settings)) as gateway:
            r = await gateway.post("/api/v1/auth/token", data={"grant_type": "password", "username": ADMIN,
                                                                "password": ADMIN_PASSWORD})
            h = auth(r.json()["access_token"])
            got = []
            for i in range(20):
                assert (await gateway.post("/api/v1/regions", headers=h, json={"name": "boom"})).status_code == 500
                r = await gateway.post("/api/v1/regions", headers=h, json={"name": f"r{i}"})
                got.append(r.status_code if r.json().get("name") == f"r{i}" else f"{r.status_code} {r.text}")
    assert got == [201] * 20
    assert created == [f"r{i}" for i in range(20)]
