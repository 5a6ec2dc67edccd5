"""The proxy's raw HTTP/1.1 path (no injected transport): what goes up the socket and what comes back."""

import asyncio

import httpx
import pytest

from services.gateway.app import create as create_gateway
from shared.testing import app_client, auth, free_port
from tests.gateway.conftest import ADMIN_PASSWORD
from tests.gateway.test_proxy import echo_app
from tests.gateway.test_upstream import Served


class RawService:
    """A service on a real socket that records each request's head and body and answers ``answer(head)``."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.via: list[int] = []            # the connection each recorded request came on
        self.connections = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        me = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:")), 0)
                if b"transfer-encoding: chunked" in lines:
                    body = b""
                    while (size := int((await reader.readuntil(b"\r\n")).strip(), 16)) != 0:
                        body += (await reader.readexactly(size + 2))[:-2]
                    await reader.readexactly(2)
                else:
                    body = await reader.readexactly(length)
                if head.startswith(b"GET /openapi.json "):      # the gateway's docs warm-up
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                self.heads.append(head)
                self.bodies.append(body)
                self.via.append(me)
                writer.write(self.answer(head))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def __aenter__(self) -> "RawService":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()


def header_lines(head: bytes) -> list[tuple[str, str]]:
    out = []
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if line:
            k, _, v = line.partition(":")
            out.append((k.lower(), v.strip()))
    return out


CHUNKED = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n"
           b"keep-alive: timeout=5\r\nx-request-id: upstream-id\r\netag: \"4\"\r\n\r\n"
           b"6\r\nline 1\r\n7\r\n\nline 2\r\n1\r\n\n\r\n0\r\n\r\n")


def gateway_for(settings, url: str):
    return create_gateway(settings.model_copy(update={"admin_password": ADMIN_PASSWORD, "registry_url": url,
                                                      "funds_url": url, "notifications_url": url}))


async def test_what_goes_up_the_socket(settings, token):
    async with RawService(lambda head: CHUNKED) as service, app_client(gateway_for(settings, service.url)) as gw:
        admin = auth(token())
        port = service.url.rsplit(":", 1)[1]
        r = await gw.get("/api/v1/households/5?x=1&y=%E7%8E%8B", headers={
            **admin, "Connection": "keep-alive, x-secret", "Keep-Alive": "timeout=9", "TE": "trailers",
            "Upgrade": "h2c", "Proxy-Authorization": "Basic eA==", "Cookie": "a=b", "X-Request-ID": "rid-1",
            "If-None-Match": '"3"', "Accept-Language": "zh-CN"})
        # the chunked answer comes back whole, without hop-by-hop headers, with the caller's request id once
        assert r.status_code == 200 and r.text == "line 1\nline 2\n"
        assert "transfer-encoding" not in r.headers or r.headers["transfer-encoding"] == "chunked"
        assert "keep-alive" not in r.headers and r.headers.get_list("x-request-id") == ["rid-1"]
        assert r.headers["etag"] == '"4"'
        head = service.heads[-1]
        assert head.startswith(b"GET /api/v1/households/5?x=1&y=%E7%8E%8B HTTP/1.1\r\n")
        sent = header_lines(head)
        names = [k for k, _ in sent]
        assert sent[0] == ("host", f"127.0.0.1:{port}") and names.count("host") == 1
        assert dict(sent)["authorization"] == admin["Authorization"] and dict(sent)["x-request-id"] == "rid-1"
        assert dict(sent)["if-none-match"] == '"3"' and dict(sent)["accept-language"] == "zh-CN"
        assert dict(sent)["x-forwarded-for"] == "127.0.0.1" and dict(sent)["accept-encoding"] == "gzip, deflate"
        for hop in ("connection", "keep-alive", "te", "upgrade", "proxy-authorization", "cookie",
                    "content-length", "transfer-encoding"):
            assert hop not in names, hop

        # a small body goes up whole with its length; a streamed one of unknown length chunked
        r = await gw.post("/api/v1/bank/loan-events", content=b'{"event_id": "e1"}',
                          headers={**admin, "Content-Type": "application/json"})
        assert r.status_code == 200 and service.bodies[-1] == b'{"event_id": "e1"}'
        sent = dict(header_lines(service.heads[-1]))
        assert sent["content-length"] == "18" and "transfer-encoding" not in sent

        async def parts():
            for i in range(3):
                yield b"part %d;" % i
        r = await gw.put("/api/v1/regions/640122000000", content=parts(), headers=admin)
        assert r.status_code == 200 and service.bodies[-1] == b"part 0;part 1;part 2;"
        sent = dict(header_lines(service.heads[-1]))
        assert sent["transfer-encoding"] == "chunked" and "content-length" not in sent
        # one kept-alive connection carried all of it
        assert len(service.heads) == 3 and len(set(service.via)) == 1


async def test_request_ids_round_trip_and_headers_over_sockets(settings, token):
    async with Served(echo_app()) as service, app_client(gateway_for(settings, service.url)) as gw:
        admin = auth(token())
        r = await gw.post("/api/v1/bank/loan-events?q=1", content=b"abc", headers={
            **admin, "X-Forwarded-For": "203.0.113.9", "Idempotency-Key": "k-1", "X-Principal-Role": "county_admin"})
        assert r.status_code == 202
        seen = r.json()["headers"]
        rid = r.headers["x-request-id"]
        assert len(rid) == 32 and seen["x-request-id"] == rid and r.headers.get_list("x-request-id") == [rid]
        assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1" and seen["idempotency-key"] == "k-1"
        assert "x-principal-role" not in seen and seen["content-length"] == "3"
        assert r.headers["location"] == "/api/v1/somewhere/1" and "keep-alive" not in r.headers
        assert r.json()["query"] == "q=1" and r.json()["length"] == 3
        # a token the gateway refuses never goes up
        r = await gw.get("/api/v1/households/1", headers=auth("not-a-jwt") | {"X-Request-ID": "rid-401"})
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert r.headers["x-request-id"] == "rid-401"


@pytest.mark.parametrize("how", ["refused", "closed without answering", "closed mid-answer"])
async def test_a_service_that_is_down_or_breaks_is_a_503_problem(settings, token, how):
    def answer(head: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial" if how == "closed mid-answer" else b""

    class Breaking(RawService):
        async def _handle(self, reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer(b""))
            await writer.drain()
            writer.close()

    async with Breaking(answer) as service:
        url = f"http://127.0.0.1:{free_port()}" if how == "refused" else service.url
        async with app_client(gateway_for(settings, url)) as gw:
            if how == "closed mid-answer":      # the head was passed on already: the answer is broken off
                with pytest.raises(httpx.RemoteProtocolError):
                    await gw.get("/api/v1/households/1", headers=auth(token()))
                return
            r = await gw.get("/api/v1/households/1", headers=auth(token()) | {"X-Request-ID": "rid-down"})
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["service"] == "registry" and r.headers["x-request-id"] == "rid-down"
