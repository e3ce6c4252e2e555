"""Upstream model APIs: one pooled HTTP client per provider, speaking the provider's own protocol.

The client is redline's lean HTTP/1.1 client (`routing.http1`), or httpx when the environment names a proxy
for the provider's URL (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY, as httpx reads them) or a test hands
in an httpx transport.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
from httpx_sse import EventSource

from redline.config import ProviderSettings
from redline.exchange import Exchange, Reply, StreamEvent
from redline.protocols import PROTOCOLS
from redline.protocols.base import ApiError, upstream_error
from redline.routing.http1 import Http1Client, UpstreamError

TRANSPORT_ERRORS = (httpx.TransportError, UpstreamError)


def proxied(base_url: str) -> bool:
    """Whether the environment sends requests to `base_url` through a proxy."""
    proxies = urllib.request.getproxies()
    url = urlsplit(base_url)
    if not (url.scheme in proxies or "all" in proxies):
        return False
    return not urllib.request.proxy_bypass(url.hostname or "")


class UpstreamStream:
    """An opened upstream stream whose status was good; close it to release the connection."""

    def __init__(self, provider: Provider, response: httpx.Response) -> None:
        self.provider, self.response = provider, response

    async def events(self) -> AsyncIterator[StreamEvent]:
        decoder = self.provider.protocol.stream_decoder()
        try:
            async for event in EventSource(self.response).aiter_sse():
                for item in decoder.decode(event.event, event.data):
                    yield item
        except TRANSPORT_ERRORS as exc:
            raise self.provider.unreachable(exc) from exc

    async def aclose(self) -> None:
        await self.response.aclose()


class Provider:
    """One configured upstream. `models` are the names clients use; `rename` maps them to the upstream's."""

    def __init__(self, settings: ProviderSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.protocol = PROTOCOLS[settings.kind]
        api_key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        headers = self.protocol.upstream_headers(api_key)
        self.http1: Http1Client | None = None
        self.client: httpx.AsyncClient | None = None
        if transport is None and not proxied(settings.base_url):
            self.http1 = Http1Client(
                settings.base_url, headers, timeout_s=settings.timeout_s, connect_timeout_s=settings.connect_timeout_s
            )
        else:
            self.client = httpx.AsyncClient(
                base_url=settings.base_url,
                headers=headers,
                timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
                transport=transport,
            )

    def serves(self, model: str) -> bool:
        return model in self.settings.models

    def unreachable(self, exc: Exception) -> ApiError:
        return ApiError(
            502, "upstream", f"provider {self.name} unreachable: {type(exc).__name__}", retryable=True
        )

    async def _post(self, exchange: Exchange, *, stream: bool) -> httpx.Response:
        model = self.settings.rename.get(exchange.model, exchange.model)
        body = self.protocol.encode_request(exchange, model)
        path = self.protocol.upstream_path.lstrip("/")
        if self.http1 is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            return await self.http1.post(path, data, stream=stream)
        assert self.client is not None
        return await self.client.send(self.client.build_request("POST", path, json=body), stream=stream)

    async def _send(self, exchange: Exchange, *, stream: bool) -> httpx.Response:
        try:
            response = await self._post(exchange, stream=stream)
        except TRANSPORT_ERRORS as exc:
            raise self.unreachable(exc) from exc
        if response.status_code >= 400:
            try:
                body = (await response.aread()) and response.json()
            except (ValueError, *TRANSPORT_ERRORS):
                body = None
            finally:
                await response.aclose()
            raise upstream_error(response.status_code, body, response.headers.get("retry-after"))
        return response

    async def complete(self, exchange: Exchange) -> Reply:
        response = await self._send(exchange, stream=False)
        try:
            return self.protocol.parse_reply(response.json())
        except ValueError as exc:
            raise ApiError(502, "upstream", f"provider {self.name} sent a body that is not JSON") from exc

    async def open_stream(self, exchange: Exchange) -> UpstreamStream:
        return UpstreamStream(self, await self._send(exchange, stream=True))

    async def aclose(self) -> None:
        if self.http1 is not None:
            await self.http1.aclose()
        if self.client is not None:
            await self.client.aclose()
