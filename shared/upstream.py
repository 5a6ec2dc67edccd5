"""A keep-alive HTTP/1.1 connection pool under an ``httpx.AsyncClient``: the gateway's to the services and the
SMS delivery's to the provider.

httpcore's pool rescans (and polls) every connection on each request, which on a busy gateway costs more
CPU than the proxying itself. This transport keeps a LIFO stack of idle connections per origin, learns
that a server closed one from asyncio's ``connection_lost``, writes each request in one ``write`` and parses
answers with llhttp (``httptools``, uvicorn's parser). It implements ``httpx.AsyncBaseTransport``, so the
client, its timeouts and its exceptions behave as usual. Anything but ``http://`` goes to a regular
``httpx.AsyncHTTPTransport``.

A connection the server closes must never cost another request its answer, so a connection goes back to the
pool only when the server meant to keep it: not after ``Connection: close`` or an HTTP/1.0 answer without
keep-alive (llhttp's verdict), and not after a 500, after which uvicorn closes the connection without saying
so (Starlette's error middleware sends the 500, re-raises, and uvicorn logs the error and closes). A pooled
connection is given up a second before the server's keep-alive timeout, and just before its reuse one
``poll`` with a zero timeout checks that the socket has nothing to read: an idle connection that can be read
from holds the server's close (end of stream or reset), possibly not yet handled by the event loop when the
loop is busy. What is left is a server closing the connection while the request is on its way; see
``UpstreamTransport.exchange`` for when the request is then sent again.
"""

from __future__ import annotations

import asyncio
import select
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping

import httptools
import httpx

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE"})
HIGH_WATER = 256 * 1024          # buffered answer bytes before we stop reading the socket
LOW_WATER = 64 * 1024


_POLL_IN = select.POLLIN | select.POLLPRI | getattr(select, "POLLRDHUP", 0)


class _Stale(Exception):
    """A reused connection closed before answering anything: safe to retry an idempotent request."""


def _readable(fd: int) -> bool:
    """Whether a socket has anything to read (or an error) right now. POLLHUP and POLLERR always count."""
    if fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, _POLL_IN)
    return bool(poller.poll(0))


class _Connection(asyncio.Protocol):
    def __init__(self, pool: UpstreamTransport, origin: tuple[str, int]) -> None:
        self.pool, self.origin = pool, origin
        self.transport: asyncio.Transport | None = None
        self.fd = -1
        self.closed = False
        self.eof = False                # the server closed its side in order (FIN)
        self.reset = False              # the server reset the connection (RST) without closing it in order
        self.idle_since = 0.0
        self.requests = 0
        self._write_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self._reset()

    # --- per exchange state
    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_only = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.error: Exception | None = None
        self.received_any = False
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.read_paused = False
        self._waiter: asyncio.Future | None = None

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, timeout: float | None) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._waiter
        except TimeoutError:
            raise httpx.ReadTimeout("the service did not answer in time") from None

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        if self.complete:               # nothing may follow a complete answer on HTTP/1.1 without pipelining
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = httpx.RemoteProtocolError(f"malformed answer from the service: {exc}")
            self.close()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        return False                    # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        # a reset on reading, or a write refused because the connection was already reset
        if isinstance(exc, (ConnectionResetError, BrokenPipeError)) and not self.eof:
            self.reset = True
        if self.headers_done and not self.complete and self._until_eof():
            self.complete = True        # an answer delimited by the end of the connection
        elif not self.complete and self.error is None:
            self.error = (_Stale() if not self.received_any
                          else httpx.RemoteProtocolError("the service closed the connection mid-answer"))
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self._wake()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # --- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True
        if self.head_only:
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        if self.head_only:
            return
        self.chunks.append(bytes(body))
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if not self.complete:
            self.complete = True
            # llhttp says no to `Connection: close` and to HTTP/1.0 without `Connection: keep-alive`; after a
            # 500 uvicorn closes without saying so (see the module's docstring)
            self.keep_alive = self.parser.should_keep_alive() and 200 <= self.status and self.status != 500

    def _until_eof(self) -> bool:
        names = {n.lower() for n, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    # --- used by the transport
    async def drain(self, timeout: float | None) -> None:
        if self.closed:
            raise httpx.WriteError("the service closed the connection")
        if not self._write_paused:
            return
        self._drain_waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._drain_waiter
        except TimeoutError:
            raise httpx.WriteTimeout("the service did not take the request body in time") from None
        if self.closed:
            raise httpx.WriteError("the service closed the connection")

    async def answer_head(self, timeout: float | None) -> None:
        while not self.headers_done and self.error is None:
            await self._wait(timeout)
        if self.error is not None and not self.headers_done:
            raise self.error

    async def next_chunk(self, timeout: float | None) -> bytes | None:
        while not self.chunks:
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            await self._wait(timeout)
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        if self.read_paused and self.buffered < LOW_WATER and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()
        return chunk

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Answer(httpx.AsyncByteStream):
    """An answer's head, and its body as it arrives (also the httpx.Response's stream)."""

    def __init__(self, conn: _Connection, read_timeout: float | None) -> None:
        self.conn, self.read_timeout = conn, read_timeout
        self.status, self.headers = conn.status, conn.headers
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self.conn
        while (chunk := await conn.next_chunk(self.read_timeout)) is not None:
            yield chunk
        self.done = True

    async def aclose(self) -> None:
        conn = self.conn
        if self.done and conn.complete and conn.keep_alive and not conn.closed and not conn.chunks:
            conn.pool._release(conn)
        else:                           # answer not read to the end: the connection cannot carry another
            conn.close()


class UpstreamTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, keepalive_expiry: float = 4.0, max_idle_per_origin: int = 256) -> None:
        # uvicorn closes idle keep-alive connections after 5 s: give them up a little before that.
        self.keepalive_expiry = keepalive_expiry
        self.max_idle = max_idle_per_origin
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._other: httpx.AsyncHTTPTransport | None = None
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            if self._other is None:
                self._other = httpx.AsyncHTTPTransport()
            return await self._other.handle_async_request(request)
        try:
            body: bytes | AsyncIterable[bytes] = request.content
        except httpx.RequestNotRead:
            body = request.stream       # type: ignore[assignment]  # a streamed body: sent as it comes
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        answer = await self.exchange((url.host, url.port or 80), request.method.encode("ascii"), url.raw_path,
                                     request.headers.raw, body, chunked=chunked,
                                     timeouts=request.extensions.get("timeout") or {})
        return httpx.Response(answer.status, headers=answer.headers, stream=answer,
                              extensions={"http_version": b"HTTP/1.1"})

    async def exchange(self, origin: tuple[str, int], method: bytes, target: bytes,
                       headers: Iterable[tuple[bytes, bytes]], body: bytes | AsyncIterable[bytes] | None, *,
                       chunked: bool, timeouts: Mapping[str, float | None]) -> Answer:
        """One request, headers exactly as given (Host and framing included), on a pooled connection: the
        answer's status and headers, its body to iterate, ``aclose()`` to give the connection back. Raises
        httpx's exceptions. ``body`` bytes are sent at once; an iterable is streamed, chunk-encoded if
        ``chunked``.

        When a *reused* connection fails before a single byte of the answer arrived, a request with a bytes
        body is sent once more, on a new connection (a streamed body is gone and is never sent twice), if
        - its method is idempotent (RFC 9110 §9.2.2: sending it twice means what sending it once does), or
        - the server *reset* the connection without first closing it in order. A TCP stack resets a
          connection, instead of closing it in order, when its application closes the socket while bytes
          sent to it are still unread: the server closed this connection (after an error, at its keep-alive
          timeout, on shutdown) with our request, or part of it, never read, so no handler can have acted on
          it -- a service acts on a request once it has read it (FastAPI reads a body before it calls the
          endpoint; a request without a body is all head). That is the "means to detect that the original
          request was never applied" RFC 9110 §9.2.2 asks for before a POST is sent again automatically.
        A server that read the request and then went away (killed while handling it) closes in order, with
        nothing left unread. From here that looks like a close that crossed the request on its way (its end
        of stream arrives before the reset our request then causes), so such a request is sent again only
        if it is idempotent; otherwise its caller gets the error (a 503 from the gateway), never a second
        payment. What ``_acquire`` and ``Answer.aclose`` check leaves that case to a close that crosses a
        request in flight (on one machine, a window of microseconds).
        """
        head = b"".join([method, b" ", target, b" HTTP/1.1\r\n", *(k + b": " + v + b"\r\n" for k, v in headers),
                         b"\r\n"])
        if body is None:
            body = b""
        resendable = isinstance(body, bytes)
        fresh = False                   # after one failed reuse, the retry goes on a new connection
        while True:
            conn = None if fresh else self._acquire(origin)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(origin, timeouts.get("connect"))
            try:
                await self._send(conn, method, head, body, chunked, timeouts.get("write"))
                await conn.answer_head(timeouts.get("read"))
            except (_Stale, httpx.WriteError) as exc:
                conn.close()
                if reused and resendable and not conn.received_any and (method in IDEMPOTENT or conn.reset):
                    fresh = True        # the server dropped the connection just as we used it
                    continue
                if isinstance(exc, httpx.WriteError):
                    raise
                raise httpx.RemoteProtocolError("the service closed the connection without answering") from None
            except BaseException:
                conn.close()
                raise
            return Answer(conn, timeouts.get("read"))

    async def _send(self, conn: _Connection, method: bytes, head: bytes, body: bytes | AsyncIterable[bytes],
                    chunked: bool, timeout: float | None) -> None:
        conn._reset()
        conn.head_only = method == b"HEAD"
        conn.requests += 1
        transport = conn.transport
        assert transport is not None
        if isinstance(body, bytes):
            transport.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                transport.write(body)
            await conn.drain(timeout)
            return
        transport.write(head)
        async for chunk in body:
            if not chunk:
                continue
            transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            await conn.drain(timeout)
        if chunked:
            transport.write(b"0\r\n\r\n")
        await conn.drain(timeout)

    def _acquire(self, origin: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_expiry and not _readable(conn.fd):
                return conn             # an idle connection with something to read holds the server's close
            conn.close()
        return None

    def _release(self, conn: _Connection) -> None:
        idle = self._idle.setdefault(conn.origin, [])
        if self._closed or len(idle) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def _connect(self, origin: tuple[str, int], timeout: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(lambda: _Connection(self, origin), origin[0], origin[1])
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {origin[0]}:{origin[1]} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {origin[0]}:{origin[1]}: {exc}") from None
        return conn

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        if self._other is not None:
            await self._other.aclose()
