"""A lean HTTP/1.1 client for the one thing the gateway does upstream: POST a JSON body, read the answer.

Why not httpx for this: an httpx `AsyncClient` call costs about 0.9 ms of CPU on this machine (request and URL
objects, cookies, auth and redirect flows, httpcore's pool and pure-Python h11), against a 3 ms budget for
everything the gateway adds. This client writes the request bytes itself, parses the response with
`httptools` (llhttp, the C parser uvicorn already uses), and keeps idle connections for reuse: about 0.1 ms.
It hands back `httpx.Response` objects (cheap to build), so callers read status, headers, JSON and
server-sent events exactly as before.

What it does: http and https (the system's default TLS context, verifying certificates), keep-alive pooling,
Content-Length, chunked and read-to-close bodies, a connect timeout and a per-read timeout, at most
`max_connections` open at once. What it leaves to httpx: proxies (`Provider` uses httpx when the
environment names a proxy for the upstream), HTTP/2, compressed bodies (it asks for `identity`).
A request on a reused keep-alive connection that the server closed before answering is sent once more on a
new connection (the server did not process it); any other failure is an `UpstreamError`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

import httptools
import httpx

_READ_SIZE = 65536


class UpstreamError(Exception):
    """The upstream could not be reached or broke the exchange (connection, timeout, malformed answer)."""


class _Message:
    """httptools callbacks: one response's status line, headers and body pieces, and its parser."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.headers_done = False
        self.done = False
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.keep_alive = self.parser.should_keep_alive()  # asked now: llhttp forgets once the body is done

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.reused = False

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.transport.abort()


class _Response:
    """One response being read from a connection; the connection goes back to the pool once it is read
    whole, and is closed if the reader gives up early or anything fails."""

    def __init__(self, client: Http1Client, conn: _Connection, timeout_s: float) -> None:
        self.client, self.conn, self.timeout_s = client, conn, timeout_s
        self.message = _Message()
        self.released = False
        self.received = False  # any byte of the answer

    async def _feed(self) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                data = await self.conn.reader.read(_READ_SIZE)
        except TimeoutError as exc:
            raise UpstreamError("timed out waiting for the upstream") from exc
        except OSError as exc:
            raise UpstreamError(f"connection failed: {exc}") from exc
        if not data:
            message = self.message
            if message.headers_done and not message.done and not self._framed():
                message.done = True  # a body delimited by the connection's end
                message.keep_alive = False
                return
            raise UpstreamError("the upstream closed the connection before the answer was complete")
        self.received = True
        try:
            self.message.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise UpstreamError(f"malformed HTTP answer: {exc}") from exc

    def _framed(self) -> bool:
        names = {name.lower() for name, _ in self.message.headers}
        return b"content-length" in names or b"transfer-encoding" in names

    async def head(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        while True:
            while not self.message.headers_done:
                await self._feed()
            status = self.message.parser.get_status_code()
            if status >= 200 or status == 101:
                return status, self.message.headers
            self.message = _Message()  # an interim 1xx answer: the real one follows

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while True:
                if self.message.body:
                    pieces, self.message.body = self.message.body, []
                    yield b"".join(pieces)
                if self.message.done:
                    break
                await self._feed()
        except BaseException:
            self.release(keep=False)
            raise
        self.release(keep=self.message.keep_alive)

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def release(self, keep: bool) -> None:
        if self.released:
            return
        self.released = True
        self.client._release(self.conn, keep and self.message.done)


class _Stream(httpx.AsyncByteStream):
    def __init__(self, response: _Response) -> None:
        self.response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.response.chunks():
            yield chunk

    async def aclose(self) -> None:
        self.response.release(keep=False)  # only reached unread or part-read: the rest is never wanted


class Http1Client:
    """Pooled HTTP/1.1 connections to one upstream origin (`base_url`, whose path prefixes every request)."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int = 512,
        max_idle: int = 128,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self.tls = ssl.create_default_context() if url.scheme == "https" else None
        default_port = self.port == (443 if url.scheme == "https" else 80)
        host = self.host if ":" not in self.host else f"[{self.host}]"
        fixed = {"host": host if default_port else f"{host}:{self.port}", "accept-encoding": "identity"}
        fixed |= {name.lower(): value for name, value in headers.items()}
        for name, value in fixed.items():
            if any(c in f"{name}{value}" for c in "\r\n\0") or ":" in name:
                raise ValueError(f"header {name!r} is not a valid HTTP header")
        self.head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items()).encode("latin-1")
        self.timeout_s, self.connect_timeout_s = timeout_s, connect_timeout_s
        self.max_idle = max_idle
        self.idle: list[_Connection] = []
        self.slots = asyncio.Semaphore(max_connections)
        self.closed = False

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.tls, server_hostname=self.host if self.tls else None
                )
        except TimeoutError as exc:
            raise UpstreamError(f"connecting to {self.host}:{self.port} timed out") from exc
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return _Connection(reader, writer)

    def _checkout(self) -> _Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.usable():
                conn.reused = True
                return conn
            conn.close()
        return None

    def _release(self, conn: _Connection, keep: bool) -> None:
        self.slots.release()
        if keep and not self.closed and conn.usable() and len(self.idle) < self.max_idle:
            self.idle.append(conn)
        else:
            conn.close()

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str] | None = None, *, stream: bool = False
    ) -> httpx.Response:
        """POST `body` (JSON) to `path` under the base URL. With `stream`, the body is read as the caller
        iterates the response (close it to release the connection); else it is read before returning."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode("latin-1")
        request = (
            f"POST {self.prefix}/{path.lstrip('/')} HTTP/1.1\r\n".encode("latin-1")
            + self.head
            + extra
            + b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
            + body
        )
        await self.slots.acquire()
        try:
            response, status, head = await self._exchange(request)
        except BaseException:
            self.slots.release()
            raise
        if stream:
            return httpx.Response(status, headers=head, stream=_Stream(response))
        return httpx.Response(status, headers=head, content=await response.read())

    async def _exchange(self, request: bytes) -> tuple[_Response, int, list[tuple[bytes, bytes]]]:
        """Send `request` and read the answer's head; once more on a fresh connection when a reused one
        turns out closed before any byte of the answer came back."""
        conn = self._checkout()
        while True:
            if conn is None:
                conn = await self._connect()
            response = _Response(self, conn, self.timeout_s)
            try:
                conn.writer.write(request)
                status, head = await response.head()
                return response, status, head
            except BaseException as exc:
                conn.close()
                if isinstance(exc, UpstreamError) and conn.reused and not response.received:
                    conn = None
                    continue
                raise

    async def aclose(self) -> None:
        self.closed = True
        while self.idle:
            self.idle.pop().close()
