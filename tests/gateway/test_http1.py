"""The lean upstream HTTP/1.1 client against a scripted raw server: framing, keep-alive, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from redline.routing.http1 import Http1Client, UpstreamError
from redline.routing.providers import proxied

Answer = Callable[[bytes], bytes | None]  # a request's bytes -> the raw answer (None: close without answering)


@asynccontextmanager
async def server(answer: Answer) -> AsyncIterator[tuple[str, list[bytes], list[int]]]:
    """A server answering each request on a connection with `answer`; yields its URL, the requests it
    received and how many connections were opened."""
    seen: list[bytes] = []
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                request = head + await reader.readexactly(length)
                seen.append(request)
                raw = answer(request)
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
                if b"connection: close" in raw.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield f"http://127.0.0.1:{port}/base/v1", seen, connections


def client(url: str, **kwargs: float) -> Http1Client:
    settings = {"timeout_s": 2.0, "connect_timeout_s": 2.0} | kwargs
    return Http1Client(url, {"authorization": "Bearer k"}, **settings)


JSON = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'


async def test_content_length_answers_reuse_one_connection() -> None:
    async with server(lambda request: JSON) as (url, seen, connections):
        http = client(url)
        for _ in range(3):
            response = await http.post("chat/completions", b'{"q":1}')
            assert response.status_code == 200 and response.json() == {"ok": True}
        await http.aclose()
    assert len(connections) == 1 and len(seen) == 3
    first = seen[0].decode()
    assert first.startswith("POST /base/v1/chat/completions HTTP/1.1\r\n")
    assert "authorization: Bearer k\r\n" in first and f"host: 127.0.0.1:{url.split(':')[2].split('/')[0]}" in first
    assert first.endswith('\r\n\r\n{"q":1}')


async def test_chunked_streams_arrive_piece_by_piece() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        b"8\r\ndata: 1\n\r\n8\r\ndata: 2\n\r\n0\r\n\r\n"
    )
    async with server(lambda request: chunked) as (url, _, connections):
        http = client(url)
        response = await http.post("x", b"{}", stream=True)
        assert response.headers["content-type"] == "text/event-stream"
        assert b"".join([piece async for piece in response.aiter_raw()]) == b"data: 1\ndata: 2\n"
        await response.aclose()
        assert (await http.post("x", b"{}")).content == b"data: 1\ndata: 2\n"
        await http.aclose()
    assert len(connections) == 1


async def test_a_body_ended_by_closing_the_connection() -> None:
    raw = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it"
    async with server(lambda request: raw) as (url, _, connections):
        http = client(url)
        assert (await http.post("x", b"{}")).content == b"all of it"
        assert (await http.post("x", b"{}")).content == b"all of it"
        await http.aclose()
    assert len(connections) == 2


async def test_a_kept_connection_the_server_dropped_is_retried_on_a_new_one() -> None:
    answers = iter([JSON, None, JSON])  # the second request finds its connection closed, unanswered
    async with server(lambda request: next(answers)) as (url, seen, connections):
        http = client(url)
        await http.post("x", b"{}")
        assert (await http.post("x", b"{}")).json() == {"ok": True}
        await http.aclose()
    assert len(seen) == 3 and len(connections) == 2


async def test_failures_are_upstream_errors() -> None:
    short = b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\nconnection: close\r\n\r\ntoo short"
    async with server(lambda request: short) as (url, _, _):
        with pytest.raises(UpstreamError, match="before the answer was complete"):
            await client(url).post("x", b"{}")
    async with server(lambda request: b"NOT HTTP AT ALL\r\n\r\n") as (url, _, _):
        with pytest.raises(UpstreamError, match="malformed"):
            await client(url).post("x", b"{}")
    async with server(lambda request: None) as (url, _, _):
        with pytest.raises(UpstreamError):  # a fresh connection closed unanswered is not retried
            await client(url).post("x", b"{}")
    with pytest.raises(UpstreamError, match="cannot connect"):
        await client("http://127.0.0.1:9/v1").post("x", b"{}")


async def test_a_silent_upstream_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with srv:
        url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
        with pytest.raises(UpstreamError, match="timed out"):
            await client(url, timeout_s=0.2).post("x", b"{}")


async def test_an_interim_answer_is_skipped() -> None:
    raw = b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + JSON
    async with server(lambda request: raw) as (url, _, _):
        assert (await client(url).post("x", b"{}")).json() == {"ok": True}


def test_bad_headers_and_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="not a valid HTTP header"):
        Http1Client("http://x", {"authorization": "Bearer k\r\nx-injected: 1"}, timeout_s=1, connect_timeout_s=1)
    with pytest.raises(ValueError, match="not an http"):
        Http1Client("ftp://x", {}, timeout_s=1, connect_timeout_s=1)


def test_a_configured_proxy_hands_the_provider_to_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not proxied("https://api.example.com/v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.com")
    assert proxied("https://api.example.com/v1") and not proxied("https://internal.example.com/v1")
