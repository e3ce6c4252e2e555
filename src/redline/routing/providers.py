"""Upstream model APIs: one pooled HTTP client per provider, speaking the provider's own protocol.

The client is aiohttp: a call costs about a fifth of httpx's CPU (docs/gateway.md, "Upstream HTTP"). One
`ClientSession` per provider and event loop, made on first use (a session belongs to the loop it was made in),
with the provider's timeouts: `connect_timeout_s` to open a connection, `timeout_s` to get one from the pool
and for each read (as httpx's timeouts were). A proxy comes from the environment (HTTP_PROXY, HTTPS_PROXY,
ALL_PROXY, NO_PROXY), read once when the provider is made, as httpx did; aiohttp supports http:// proxies only.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from httpx_sse._decoders import SSEDecoder, SSELineDecoder  # httpx-sse's own SSE parser, without httpx
from yarl import URL

from redline.config import ProviderSettings
from redline.exchange import Exchange, Reply, StreamEvent
from redline.protocols import PROTOCOLS
from redline.protocols.base import ApiError, upstream_error

# What reaching a provider can fail with: aiohttp's errors (its timeouts are among them) and a timeout.
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)


class UpstreamStream:
    """An opened upstream stream whose status was good; close it to release the connection."""

    def __init__(self, provider: Provider, response: aiohttp.ClientResponse) -> None:
        self.provider, self.response = provider, response

    async def events(self) -> AsyncIterator[StreamEvent]:
        content_type = self.response.headers.get("content-type", "").partition(";")[0]
        if "text/event-stream" not in content_type:
            raise ApiError(502, "upstream", f"provider {self.provider.name} did not answer with an event stream")
        decoder = self.provider.protocol.stream_decoder()
        text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        lines, events = SSELineDecoder(), SSEDecoder()

        def parsed(new_lines: list[str]) -> list[StreamEvent]:
            return [
                item
                for line in new_lines
                if (event := events.decode(line)) is not None
                for item in decoder.decode(event.event, event.data)
            ]

        try:
            async for chunk in self.response.content.iter_any():
                for item in parsed(lines.decode(text.decode(chunk))):
                    yield item
            for item in parsed(lines.decode(text.decode(b"", final=True)) + lines.flush()):
                yield item
        except TRANSPORT_ERRORS as exc:
            raise self.provider.unreachable(exc) from exc

    async def aclose(self) -> None:
        done(self.response)


def done(response: aiohttp.ClientResponse) -> None:
    """Let go of a response: a connection read to the end goes back to the pool; one abandoned before (the
    client left, a stream was cut) is closed, which ends the upstream's answer."""
    if response.content.at_eof():
        response.release()
    else:
        response.close()


class Provider:
    """One configured upstream. `models` are the names clients use; `rename` maps them to the upstream's."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.protocol = PROTOCOLS[settings.kind]
        api_key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        self.headers = {**self.protocol.upstream_headers(api_key), "content-type": "application/json"}
        self.url = URL(settings.base_url.rstrip("/") + self.protocol.upstream_path)
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.timeout_s, sock_connect=settings.connect_timeout_s,
            sock_read=settings.timeout_s,
        )  # fmt: skip
        self.proxy: URL | None = None
        self.proxy_auth: aiohttp.BasicAuth | None = None
        try:  # once, here: aiohttp's trust_env would look it up on every request, in a thread
            self.proxy, self.proxy_auth = get_env_proxy_for_url(self.url)
        except LookupError:  # none set, or NO_PROXY covers this host
            pass
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=512),
                headers=self.headers,
                timeout=self.timeout,
                raise_for_status=False,
            )
            self._sessions[loop] = session
        return session

    def serves(self, model: str) -> bool:
        return model in self.settings.models

    def unreachable(self, exc: Exception) -> ApiError:
        return ApiError(
            502, "upstream", f"provider {self.name} unreachable: {type(exc).__name__}", retryable=True
        )

    def _body(self, exchange: Exchange) -> bytes:
        model = self.settings.rename.get(exchange.model, exchange.model)
        body = self.protocol.encode_request(exchange, model)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()

    async def _send(self, exchange: Exchange) -> aiohttp.ClientResponse:
        data = self._body(exchange)
        try:
            response = await self._session().post(self.url, data=data, proxy=self.proxy, proxy_auth=self.proxy_auth)
        except TRANSPORT_ERRORS as exc:
            raise self.unreachable(exc) from exc
        if response.status >= 400:
            body: Any
            try:
                body = json.loads(await response.read())
            except (ValueError, *TRANSPORT_ERRORS):
                body = None
            finally:
                done(response)
            raise upstream_error(response.status, body, response.headers.get("retry-after"))
        return response

    async def complete(self, exchange: Exchange) -> Reply:
        response = await self._send(exchange)
        try:
            data = await response.read()
        except TRANSPORT_ERRORS as exc:
            raise self.unreachable(exc) from exc
        finally:
            done(response)
        try:
            return self.protocol.parse_reply(json.loads(data))
        except ValueError as exc:
            raise ApiError(502, "upstream", f"provider {self.name} sent a body that is not JSON") from exc

    async def open_stream(self, exchange: Exchange) -> UpstreamStream:
        return UpstreamStream(self, await self._send(exchange))

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for loop, session in sessions.items():
            if loop is asyncio.get_running_loop():
                await session.close()
