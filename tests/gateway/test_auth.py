"""Revoked keys stop working at once in the process that revoked them, and soon in every other one."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from cachetools import TTLCache
from starlette.datastructures import Headers

from redline.gateway.auth import Authenticator
from redline.gateway.tenants import Principal, TenantError
from redline.protocols.base import ApiError
from tests.gateway.conftest import Gateway
from tests.gateway.support import SteppingClock

TOKEN = "admin-secret"


def ask(gateway: Gateway, key: str) -> int:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers={"x-api-key": key}).status_code


def test_a_key_revoked_through_the_admin_api_is_refused_at_once(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDLINE_ADMIN_TOKEN", TOKEN)
    key_id, key = gateway.store.create_key("acme")
    assert ask(gateway, key) == 200  # now cached
    admin = {"authorization": f"Bearer {TOKEN}"}
    assert httpx.post(f"{gateway.url}/admin/keys/{key_id}/revoke").status_code == 401
    revoked = httpx.post(f"{gateway.url}/admin/keys/{key_id}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json() == {"revoked": key_id, "tenant": "acme"}
    assert ask(gateway, key) == 401
    record = gateway.audit.records[-1]
    assert record["kind"] == "key_change" and record["subject"] == key_id and key not in str(record)
    assert httpx.post(f"{gateway.url}/admin/keys/nope/revoke", headers=admin).status_code == 404


class FakeStore:
    """Stands in for TenantStore: one key, revoked by "another process" when `revoked` is set."""

    def __init__(self) -> None:
        self.revoked = False
        self.lookups = 0

    def principal(self, key: str) -> Principal | None:
        self.lookups += 1
        return None if self.revoked else Principal("acme", "commercial", "k1")

    def revocation_mark(self) -> tuple[int, None]:
        return int(self.revoked), None

    def revoke_key(self, key_id: str) -> dict[str, str]:
        if key_id != "k1":
            raise TenantError(key_id)
        self.revoked = True
        return {"key_id": key_id, "tenant": "acme"}


def test_a_revocation_elsewhere_empties_the_cache_at_the_next_check() -> None:
    store = FakeStore()
    auth = Authenticator(store, ttl_s=3600)  # type: ignore[arg-type]
    headers = Headers({"x-api-key": "rl_k1_secret"})

    async def scenario() -> None:
        await auth.check_revocations()
        assert (await auth.authenticate(headers)).key_id == "k1"
        await auth.authenticate(headers)
        assert store.lookups == 1  # cached
        store.revoked = True  # `redline keys revoke` in another process
        await auth.authenticate(headers)  # still cached until the next check...
        await auth.check_revocations()
        with pytest.raises(ApiError, match="revoked"):  # ... and refused after it
            await auth.authenticate(headers)

    asyncio.run(scenario())


def test_a_cached_key_expiring_during_the_lookup_is_looked_up_again_not_a_500() -> None:
    store = FakeStore()
    auth = Authenticator(store)  # type: ignore[arg-type]
    # every read of the clock moves 0.6 of the TTL on: a membership test followed by a get would see the entry
    # alive, then expired (KeyError: a 500 under load, seen in the gateway benchmark)
    auth.cache = TTLCache(maxsize=16, ttl=1.0, timer=SteppingClock(0.6))
    headers = Headers({"x-api-key": "rl_k1_secret"})

    async def scenario() -> None:
        for _ in range(6):
            assert (await auth.authenticate(headers)).key_id == "k1"

    asyncio.run(scenario())
    assert 1 < store.lookups < 6  # some served from the cache, expired ones looked up again
