"""Authenticating a request's API key, with a short cache so the database is not hit on every call.

Cache entries live a few seconds, so a revoked key stops working within that time. Unknown keys are cached
too (bounded), so a flood of bad keys cannot flood the database.
"""

from __future__ import annotations

from anyio import to_thread
from cachetools import TTLCache
from starlette.datastructures import Headers

from redline.gateway.tenants import Principal, TenantStore, key_sha256
from redline.protocols.base import ApiError

CACHE_TTL_S = 5.0


def presented_key(headers: Headers) -> str | None:
    """The key from `Authorization: Bearer` or `x-api-key`."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None


class Authenticator:
    def __init__(self, store: TenantStore, ttl_s: float = CACHE_TTL_S) -> None:
        self.store = store
        self.cache: TTLCache[str, Principal | None] = TTLCache(maxsize=65536, ttl=ttl_s)

    async def authenticate(self, headers: Headers) -> Principal:
        key = presented_key(headers)
        if key is None:
            raise ApiError(401, "authentication", "missing API key: send Authorization: Bearer or x-api-key")
        digest = key_sha256(key)
        if digest in self.cache:
            principal = self.cache[digest]
        else:
            principal = await to_thread.run_sync(self.store.principal, key)
            self.cache[digest] = principal
        if principal is None:
            raise ApiError(401, "authentication", "invalid or revoked API key", code="invalid_api_key")
        return principal
