"""Upstream model APIs: one pooled HTTP client per provider, speaking the provider's own protocol."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
from httpx_sse import EventSource

from redline.config import ProviderSettings
from redline.exchange import Exchange, Reply, StreamEvent
from redline.protocols import PROTOCOLS
from redline.protocols.base import ApiError, upstream_error


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
        except httpx.TransportError as exc:
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
        self.client = httpx.AsyncClient(
            base_url=settings.base_url,
            headers=self.protocol.upstream_headers(api_key),
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

    def _request(self, exchange: Exchange) -> httpx.Request:
        model = self.settings.rename.get(exchange.model, exchange.model)
        body = self.protocol.encode_request(exchange, model)
        return self.client.build_request("POST", self.protocol.upstream_path.lstrip("/"), json=body)

    async def _send(self, exchange: Exchange, *, stream: bool) -> httpx.Response:
        try:
            response = await self.client.send(self._request(exchange), stream=stream)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from exc
        if response.status_code >= 400:
            try:
                body = (await response.aread()) and response.json()
            except (ValueError, httpx.TransportError):
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
        await self.client.aclose()
