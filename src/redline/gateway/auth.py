"""Authenticating a request's API key, with a cache so the database is not hit on every call.

A key lookup costs about 0.2 ms of database work plus a thread hop, so principals are cached (5 s; unknown
keys too, bounded, so a flood of bad keys cannot flood the database). Revocation does not wait for the cache:
- a key revoked through this process (`Authenticator.revoke`, the admin API) is dropped from the cache before
  the revocation returns, so the next request with it is refused;
- a key revoked by another process (`redline keys revoke`, another worker) is noticed by `watch_revocations`,
  which reads a cheap revocation mark every `REVOCATION_CHECK_S` and drops the cache when it changed: such a
  key stops working within about that time (1 s), plus the time one check takes.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from anyio import to_thread
from cachetools import TTLCache
from starlette.datastructures import Headers

from redline.gateway.caching import read_through
from redline.gateway.tenants import Principal, TenantStore, key_sha256
from redline.protocols.base import ApiError

CACHE_TTL_S = 5.0
REVOCATION_CHECK_S = 1.0
log = logging.getLogger(__name__)


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
        self._mark: Any = None  # the revocation mark last seen

    async def authenticate(self, headers: Headers) -> Principal:
        key = presented_key(headers)
        if key is None:
            raise ApiError(401, "authentication", "missing API key: send Authorization: Bearer or x-api-key")
        digest = key_sha256(key)
        principal = await read_through(self.cache, digest, lambda: self.store.principal(key))
        if principal is None:
            raise ApiError(401, "authentication", "invalid or revoked API key", code="invalid_api_key")
        return principal

    async def revoke(self, key_id: str) -> dict[str, Any]:
        """Revoke a key; once this returns, no request to this process is admitted with it."""
        revoked = await to_thread.run_sync(self.store.revoke_key, key_id)
        # every cached principal is dropped, not just this key's: revocations are rare, and walking a TTL
        # cache's items to find the key's can meet one expiring (a KeyError)
        self.cache.clear()
        return revoked

    async def check_revocations(self) -> None:
        """Drop every cached principal if a key was revoked since the last check (by any process)."""
        mark = await to_thread.run_sync(self.store.revocation_mark)
        if self._mark is not None and mark != self._mark:
            self.cache.clear()
        self._mark = mark

    async def watch_revocations(self, interval_s: float = REVOCATION_CHECK_S) -> None:
        """Check for revocations every `interval_s`; runs until cancelled."""
        while True:
            try:
                await self.check_revocations()
            except Exception:  # a database hiccup: forget everything rather than trust a stale cache
                log.exception("checking for revoked keys failed")
                self.cache.clear()
            await anyio.sleep(interval_s)
